package dev.skipjack.engine.reference;

/** tiny_bottleneck against PyTorch (see {@link ReferenceModelTest}). */
class TinyBottleneckReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "tiny_bottleneck";
    }
}
