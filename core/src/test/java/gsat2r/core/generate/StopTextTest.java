package gsat2r.core.generate;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Stop strings against a plain reference: the text up to the first occurrence of any stop string, in one piece or many. */
class StopTextTest {

    @Test
    void textBeforeTheFirstStopWhateverThePieces() {
        String text = "And God said, Let there be light: and there was light.\nUser: more";
        List<String> stops = List.of("light.", "\nUser:", "xyz");
        String expected = "And God said, Let there be light: and there was ";
        for (int piece = 1; piece <= text.length(); piece++) {
            StopText stop = new StopText(stops);
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < text.length() && !stop.stopped(); i += piece) {
                out.append(stop.push(text.substring(i, Math.min(text.length(), i + piece))));
            }
            assertTrue(stop.stopped(), "pieces of " + piece);
            out.append(stop.finish());
            assertEquals(expected, out.toString(), "pieces of " + piece);
        }
    }

    @Test
    void holdsBackOnlyWhatMayStartAStop() {
        StopText stop = new StopText(List.of("\nUser:"));
        assertEquals("Amen", stop.push("Amen\nUs"));
        assertEquals("", stop.push(""));
        assertEquals("\nUs and", stop.push(" and"));
        assertEquals("", stop.push("\n"));
        assertEquals("\n", stop.finish());
        assertFalse(stop.stopped());
    }

    @Test
    void withoutStopsEverythingPassesAtOnce() {
        StopText stop = new StopText(List.of());
        assertEquals("abc", stop.push("abc"));
        assertEquals("", stop.finish());
    }
}
