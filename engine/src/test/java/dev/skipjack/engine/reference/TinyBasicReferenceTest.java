package dev.skipjack.engine.reference;

/** tiny_basic against PyTorch (see {@link ReferenceModelTest}). */
class TinyBasicReferenceTest extends ReferenceModelTest {
    @Override
    String model() {
        return "tiny_basic";
    }
}
