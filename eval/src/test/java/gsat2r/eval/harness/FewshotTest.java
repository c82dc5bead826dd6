package gsat2r.eval.harness;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Few-shot examples against draws printed by CPython ({@code random.Random(1234).sample}) and prompts written by hand. */
class FewshotTest {

    @TempDir
    Path data;

    private void write(String file, List<String> lines) throws IOException {
        Path p = data.resolve(file);
        Files.createDirectories(p.getParent());
        Files.write(p, lines);
    }

    /** A document as the task reads it from a file of one row. */
    private Doc doc(HarnessTask task, String row) throws IOException {
        Path p = Files.createTempFile(data, "doc", ".jsonl");
        Files.writeString(p, row + "\n");
        return task.toDoc().apply(gsat2r.datasets.RowFiles.read(p).getFirst());
    }

    private static String arcRow(int i) {
        return "{\"id\": \"q" + i + "\", \"question\": \"Question " + i + "?\", \"choices\": {\"text\": [\"yes " + i + "\", \"no " + i
                + "\"], \"label\": [\"A\", \"B\"]}, \"answerKey\": \"" + (i % 2 == 0 ? "A" : "B") + "\"}";
    }

    private static String arcExample(int i) {
        return "Question: Question " + i + "?\nAnswer: " + (i % 2 == 0 ? "yes " : "no ") + i + "\n\n";
    }

    @Test
    void arcDrawsNExamplesForEachDocumentInTurn() throws IOException {
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 12; i++) train.add(arcRow(i));
        write("allenai/ai2_arc/ARC-Easy/train.jsonl", train);
        HarnessTask arc = HarnessTasks.task("arc_easy");
        Fewshot f = Fewshot.of(arc, 3, new TaskData(data));
        Doc doc = doc(arc, arcRow(0));
        // python3: r = random.Random(1234); r.sample(range(12), 3) -> [7, 1, 0], then [1, 9, 0]. arc has a test split,
        // so the harness draws n and never looks for the document evaluated (here row 0 is drawn and kept).
        assertEquals(arcExample(7) + arcExample(1) + arcExample(0), f.before(doc));
        assertEquals(arcExample(1) + arcExample(9) + arcExample(0), f.before(doc));
        assertEquals("", Fewshot.of(arc, 0, new TaskData(data.resolve("nowhere"))).before(doc));
    }

    private static String winoRow(int i) {
        return "{\"sentence\": \"Abel " + i + " gave _ a lamb.\", \"option1\": \"Cain\", \"option2\": \"Seth\", \"answer\": \""
                + (i % 2 + 1) + "\"}";
    }

    @Test
    void winograndeDrawsOneMoreAndDropsTheDocumentEvaluated() throws IOException {
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 5; i++) train.add(winoRow(i));
        write("allenai/winogrande/winogrande_xl/train.jsonl", train);
        HarnessTask wino = HarnessTasks.task("winogrande");
        Fewshot f = Fewshot.of(wino, 2, new TaskData(data));
        // python3: r = random.Random(1234); r.sample(range(5), 3) -> [3, 0, 4], then [0, 4, 2]. The first document
        // evaluated equals pool row 0, which the harness drops (rm_eval_doc); the second is in no draw.
        Doc inPool = doc(wino, winoRow(0));
        Doc other = doc(wino, winoRow(9));
        // An example is the context with the right option, then the rest of the sentence after a space.
        assertEquals("Abel 3 gave Seth a lamb.\n\nAbel 4 gave Cain a lamb.\n\n", f.before(inPool));
        assertEquals("Abel 0 gave Cain a lamb.\n\nAbel 4 gave Cain a lamb.\n\n", f.before(other));
    }

    @Test
    void aWinograndeSentenceEndingAtItsBlankIsItsContextAlone() throws IOException {
        // The harness's build_qa_turn sees an empty answer as none: no target delimiter, no answer, no blank line.
        String endsAtBlank = "{\"sentence\": \"Abel gave a lamb to _\", \"option1\": \"Cain\", \"option2\": \"Seth\", \"answer\": \"2\"}";
        assertEquals("Abel gave a lamb to Seth", Fewshot.example(doc(HarnessTasks.task("winogrande"), endsAtBlank)));
        assertEquals("Abel 1 gave Seth a lamb.\n\n", Fewshot.example(doc(HarnessTasks.task("winogrande"), winoRow(1))));
    }

    @Test
    void tooSmallAPoolOrAZeroShotTaskIsOneLine() throws IOException {
        write("allenai/winogrande/winogrande_xl/train.jsonl", List.of(winoRow(0), winoRow(1)));
        T2rException e = assertThrows(T2rException.class, () -> Fewshot.of(HarnessTasks.task("winogrande"), 2, new TaskData(data)));
        assertEquals("winogrande: --num-fewshot 2 needs 3 documents in the train split, which has 2", e.getMessage());
        e = assertThrows(T2rException.class, () -> Fewshot.of(HarnessTasks.task("wikitext"), 1, new TaskData(data)));
        assertEquals("--num-fewshot 1: wikitext: a rolling log-likelihood scores each page alone, zero-shot", e.getMessage());
    }
}
