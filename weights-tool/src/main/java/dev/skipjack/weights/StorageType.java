package dev.skipjack.weights;

/**
 * A torch storage class as named in a checkpoint's pickle ({@code torch.FloatStorage}, ...): the element type of
 * the raw bytes a tensor views.
 */
enum StorageType {
    FLOAT("FloatStorage", "float32", 4, true),
    DOUBLE("DoubleStorage", "float64", 8, true),
    HALF("HalfStorage", "float16", 2, true),
    BFLOAT16("BFloat16Storage", "bfloat16", 2, true),
    LONG("LongStorage", "int64", 8, false),
    INT("IntStorage", "int32", 4, false),
    SHORT("ShortStorage", "int16", 2, false),
    CHAR("CharStorage", "int8", 1, false),
    BYTE("ByteStorage", "uint8", 1, false),
    BOOL("BoolStorage", "bool", 1, false);

    /** The class name in module {@code torch}. */
    final String className;
    /** PyTorch's name of the dtype, e.g. "float16". */
    final String dtypeName;
    final int elementSize;
    final boolean floatingPoint;

    StorageType(String className, String dtypeName, int elementSize, boolean floatingPoint) {
        this.className = className;
        this.dtypeName = dtypeName;
        this.elementSize = elementSize;
        this.floatingPoint = floatingPoint;
    }
}
