package gsat2r.eval;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskSpecTest {

    @Test
    void parsesTheTaskList() {
        List<TaskSpec> t = TaskSpec.parse(" lm,recall, passkey,mc:tasks/a b.jsonl,speed,lm");
        assertEquals(List.of("lm", "recall", "passkey", "mc:tasks/a b.jsonl", "speed"), t.stream().map(TaskSpec::toString).toList());
        assertEquals(Path.of("tasks/a b.jsonl"), t.get(3).file());
        assertTrue(t.get(3).key().matches("mc-a_b-[0-9a-f]{8}"), t.get(3).key());
        assertNotEquals(TaskSpec.parse("mc:x/a.jsonl").getFirst().key(), TaskSpec.parse("mc:y/a.jsonl").getFirst().key());
        assertEquals(4, TaskSpec.parse(TaskSpec.DEFAULT).size());
        List<TaskSpec> needles = TaskSpec.parse("niah_single,niah_multikey,niah_multivalue,vt");
        assertEquals(List.of("niah_single", "niah_multikey", "niah_multivalue", "vt"), needles.stream().map(TaskSpec::key).toList());
        assertTrue(needles.stream().allMatch(n -> n.kind().isNeedle()));
        assertTrue(!TaskSpec.Kind.PASSKEY.isNeedle());
    }

    @Test
    void unknownTasksAreNamed() {
        assertEquals("--tasks: unknown task 'ppl' (known: lm, recall, passkey, mc:FILE, speed, niah_single, niah_multikey, niah_multivalue, vt;"
                + " lm-evaluation-harness's: " + gsat2r.eval.harness.HarnessTasks.KNOWN + ")",
                assertThrows(T2rException.class, () -> TaskSpec.parse("lm,ppl")).getMessage());
        assertEquals("--tasks: mc needs a task file: mc:FILE", assertThrows(T2rException.class, () -> TaskSpec.parse("mc")).getMessage());
        assertEquals("--tasks: mc needs a task file: mc:FILE", assertThrows(T2rException.class, () -> TaskSpec.parse("mc:")).getMessage());
        assertThrows(T2rException.class, () -> TaskSpec.parse(" , "));
    }
}
