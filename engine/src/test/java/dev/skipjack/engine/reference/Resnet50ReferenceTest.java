package dev.skipjack.engine.reference;

/** resnet50 against PyTorch (see {@link ReferenceModelTest}). */
class Resnet50ReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "resnet50";
    }
}
