package gsat2r.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tokens shown in report.md's tables stay in their cell and show their spaces. */
class ReportMarkdownTest {

    @Test
    void picksAreCodeSpansWithSpacesShownAndPipesEscaped() {
        assertEquals("`␣5` `28` `a\\|b` `x'y` `\\n`", ReportMarkdown.picks(List.of(" 5", "28", "a|b", "x`y", "\n")));
        assertEquals("", ReportMarkdown.picks(List.of()));
    }
}
