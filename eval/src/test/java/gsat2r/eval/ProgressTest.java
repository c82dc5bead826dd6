package gsat2r.eval;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Progress lines: throttled, with rate and ETA from a clock the test moves. */
class ProgressTest {

    @Test
    void linesShowDoneTotalRateAndEta() {
        StringWriter out = new StringWriter();
        long[] now = {0};
        Progress p = new Progress(new PrintWriter(out), () -> now[0], 2_000_000_000L);
        Progress.Task t = p.start("lm", 1000, "tokens");
        now[0] = 1_000_000_000L;
        t.advance(100, 200);                                  // within the interval: no line
        now[0] = 2_000_000_000L;
        t.advance(100, 200);                                  // 200 of 1000 in 2 s: 200 tok/s, 8 s to go
        now[0] = 10_000_000_000L;
        t.advance(800, 1600);
        t.finish();
        Progress.Task weighted = p.start("recall", 4, "prompts", 1000);
        now[0] = 12_000_000_000L;
        weighted.advance(2, 100);                             // half the prompts, a tenth of the tokens
        assertEquals(List.of(
                "eval lm: 200/1,000 tokens (20%), 200 tok/s, ETA 0:00:08",
                "eval lm: 1,000/1,000 tokens, 200 tok/s, done in 0:00:10",
                "eval recall: 2/4 prompts (50%), 50 tok/s, ETA 0:00:18"), out.toString().lines().toList());
    }
}
