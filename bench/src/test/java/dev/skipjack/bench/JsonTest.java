package dev.skipjack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void writesNestedValuesInInsertionOrder() {
        var m = new LinkedHashMap<String, Object>();
        m.put("b", 1);
        m.put("a", List.of(true, false));
        m.put("n", null);
        m.put("x", 2.5);
        m.put("ints", new int[] {1, 8});
        m.put("d", new double[] {0.25, 3.0});
        m.put("nested", new LinkedHashMap<>(java.util.Map.of("k", "v")));
        assertEquals("{\"b\":1,\"a\":[true,false],\"n\":null,\"x\":2.5,\"ints\":[1,8],\"d\":[0.25,3],"
                + "\"nested\":{\"k\":\"v\"}}", Json.write(m));
    }

    @Test
    void escapesStrings() {
        assertEquals("\"a\\\"b\\\\c\\nd\\te\\u0001\"", Json.write("a\"b\\c\nd\te\u0001"));
        assertEquals("\"caf\u00e9\"", Json.write("caf\u00e9"));
    }

    @Test
    void nonFiniteNumbersBecomeNull() {
        assertEquals("[null,null,null]", Json.write(Arrays.asList(Double.NaN, Double.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY)));
    }

    @Test
    void smallAndLargeNumbersStayNumbers() {
        assertEquals("1.5E-5", Json.write(1.5e-5));
        assertEquals("123456789012", Json.write(123456789012L));
        assertEquals("-3", Json.write(-3.0));
    }

    @Test
    void unknownTypesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> Json.write(new Object()));
    }
}
