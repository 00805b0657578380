package dev.skipjack.engine.reference;

/** resnet18 against PyTorch (see {@link ReferenceModelTest}). */
class Resnet18ReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "resnet18";
    }
}
