package dev.skipjack.engine.reference;

/** resnet152 against PyTorch (see {@link ReferenceModelTest}). */
class Resnet152ReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "resnet152";
    }
}
