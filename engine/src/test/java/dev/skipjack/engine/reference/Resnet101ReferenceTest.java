package dev.skipjack.engine.reference;

/** resnet101 against PyTorch (see {@link ReferenceModelTest}). */
class Resnet101ReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "resnet101";
    }
}
