package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class MachineInfoTest {
    private static final String X86 = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            model\t\t: 1
            model name\t: AMD EPYC 7B13
            flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2
            
            processor\t: 1
            model name\t: AMD EPYC 7B13
            flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2
            """;

    @Test
    void readsTheModelNameNotTheModelNumber() {
        assertEquals("AMD EPYC 7B13", MachineInfo.cpuModel(X86));
    }

    @Test
    void keepsOnlyTheSimdFlagsThatMatter() {
        assertEquals(List.of("avx", "avx2", "f16c", "fma", "sse4_2"), MachineInfo.cpuFlags(X86));
    }

    @Test
    void armFeatures() {
        String arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm sve\nCPU part\t: 0xd0c\n";
        assertEquals(List.of("asimd", "sve"), MachineInfo.cpuFlags(arm));
        assertNull(MachineInfo.cpuModel(arm));
    }

    @Test
    void detectNeverFails() {
        MachineInfo m = MachineInfo.detect();
        assertTrue(m.cores() >= 1);
        assertTrue(m.jdk().startsWith(Runtime.version().feature() + ""), m.jdk());
    }
}
