package dev.skipjack.engine.reference;

/** resnext50_32x4d against PyTorch (see {@link ReferenceModelTest}). */
class Resnext50ReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "resnext50_32x4d";
    }
}
