package dev.skipjack.engine.reference;

/** wide_resnet50_2 against PyTorch (see {@link ReferenceModelTest}). */
class WideResnet50ReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "wide_resnet50_2";
    }
}
