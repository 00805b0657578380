package dev.skipjack.cli;

import dev.skipjack.engine.ResNet;
import dev.skipjack.engine.backend.DispatchProfile;
import java.io.IOException;
import java.io.PrintStream;

/** {@code --profile NAME|FILE}, shared by the commands that run a model (see docs/GPU.md). */
final class ProfileOption {
    private ProfileOption() {}

    /** The usage line. */
    static final String HELP =
            "  --profile P       where each layer runs: cpu (default), gpu, auto, or a profile file (docs/GPU.md)";

    /** The profile named by {@code --profile}, or the default ({@code cpu}). */
    static DispatchProfile parse(Options o) throws Options.UsageException, IOException {
        if (!o.has("profile")) {
            return DispatchProfile.cpu();
        }
        try {
            return DispatchProfile.of(o.get("profile"));
        } catch (IllegalArgumentException e) {
            throw new Options.UsageException("--profile: " + e.getMessage());
        }
    }

    /** With {@code --profile}, the plan (which layer runs where, and why) on stderr. */
    static void printPlan(Options o, ResNet model, PrintStream err) {
        if (o.has("profile")) {
            err.print(model.dispatchPlan());
        }
    }
}
