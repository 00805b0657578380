package dev.skipjack.engine.reference;

/** resnet34 against PyTorch (see {@link ReferenceModelTest}). */
class Resnet34ReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "resnet34";
    }
}
