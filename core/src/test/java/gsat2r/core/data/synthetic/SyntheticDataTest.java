package gsat2r.core.data.synthetic;

import gsat2r.core.T2rException;
import gsat2r.core.data.DataPreparer;
import gsat2r.core.data.PackedSequences;
import gsat2r.core.data.PreparedDataset;
import gsat2r.core.data.SequenceOrder;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.data.TrainingStream;
import gsat2r.core.tokenizer.TestTokenizers;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The synthetic documents on the demo teacher's tokenizer (byte-level BPE, Llama 3's pre-tokenizer) with
 * the KJV corpus as haystack: formats, budgets, canonical tokens, determinism; and the byte-level test
 * tokenizer, whose vocabulary is too small for one-token words.
 */
class SyntheticDataTest {

    @TempDir
    static Path tmp;
    static Tokenizer tokenizer;
    static PreparedDataset data;
    static SyntheticContext context;
    static final List<SyntheticKind> KINDS = List.of(KeyValueLists.DEFAULTS, Needles.DEFAULTS, RepeatedSpans.DEFAULTS,
            VariableChains.DEFAULTS, new KeyValueLists(4, 64, 0.3, 1), new Needles(4, 4, 1, 0));

    @BeforeAll
    static void corpus() {
        Path demo = Path.of("..", "models", "kjv-llama");
        DataPreparer.prepare(new DataPreparer.Request(demo, List.of(Path.of("..", "data", "kjv", "validation.jsonl")), List.of(),
                "text", 0, DataPreparer.DEFAULT_SHARD_TOKENS, tmp.resolve("data"), false), p -> {});
        tokenizer = Tokenizer.load(demo);
        data = PreparedDataset.open(tmp.resolve("data"));
        context = SyntheticContext.of(tokenizer, data.train());
    }

    @AfterAll
    static void close() {
        data.close();
        tokenizer.close();
    }

    static List<Doc.Encoded> docs(SyntheticKind kind, int windows, int n) {
        SyntheticDocuments d = new SyntheticDocuments(context, List.of(kind), 7);
        List<Doc.Encoded> out = new ArrayList<>();
        for (int j = 0; j < windows; j++) out.addAll(d.documents(0, j, n));
        return out;
    }

    @Test
    void theLexiconHoldsOneTokenWordsOfTheVocabulary() {
        List<String> words = context.lexicon().words();
        assertTrue(words.size() >= Lexicon.MIN_WORDS, "words: " + words.size());
        for (String w : words.subList(0, 50)) {
            assertTrue(w.matches("[a-z]{3,10}"), w);
            assertEquals(1, tokenizer.encodePlain(" " + w).length, w);
        }
    }

    @Test
    void everyDocumentFitsItsWindowStartsWithBosEndsWithEosAndTokenizesAsItsText() {
        int bos = tokenizer.bosId().getAsInt(), eos = tokenizer.eosIds()[0];
        for (SyntheticKind kind : KINDS) {
            List<Doc.Encoded> docs = docs(kind, 12, 513);
            assertFalse(docs.isEmpty(), kind.name());
            for (Doc.Encoded d : docs) {
                int[] t = d.tokens();
                assertTrue(t.length <= 513 && t.length >= kind.minTokens() / 4, kind.name() + ": " + t.length);
                assertEquals(bos, t[0]);
                assertEquals(eos, t[t.length - 1]);
                // exactly the tokenizer's own tokens for the text: the teacher never sees a token split it was not trained on
                assertArrayEquals(tokenizer.encode(d.doc().text()), Arrays.copyOf(t, t.length - 1), kind.name());
                int[] body = Arrays.copyOf(t, t.length - 1);
                assertArrayEquals(body, tokenizer.encode(tokenizer.decode(body)), kind.name() + ": decoding and encoding again changes nothing");
                assertFalse(d.doc().answer().isBlank(), kind.name());
            }
        }
    }

    @Test
    void theAnswerTokensSpellEveryRecallTargetAndNothingElse() {
        List<SyntheticKind> kinds = new ArrayList<>(KINDS);
        kinds.add(new KeyValueLists(4, 16, 0.3, 0.3, 0.4, 0.5));            // bare lists, fact lists, decoys among facts
        kinds.add(new Needles(4, 4, 0.5, 0.5));                              // filler haystacks, decoys in haystacks
        int documents = 0, targets = 0;
        for (SyntheticKind kind : kinds) {
            for (Doc.Encoded d : docs(kind, 6, 1025)) {
                boolean[] marked = AnswerTokens.of(tokenizer, d);
                assertNotNull(marked, kind.name() + ": the tokens spell the text");
                List<String> runs = new ArrayList<>();
                for (int i = 0; i < marked.length; i++) {
                    if (!marked[i]) continue;
                    int j = i;
                    while (j < marked.length && marked[j]) j++;
                    runs.add(tokenizer.decode(Arrays.copyOfRange(d.tokens(), i, j)).strip());
                    i = j;
                }
                String text = d.doc().text();
                List<String> expected = d.doc().answers().stream().map(a -> text.substring(a.start(), a.end()).strip()).toList();
                assertEquals(expected, runs, kind.name() + " in\n" + text);
                assertTrue(expected.getLast().equals(d.doc().answer().strip()) || d.doc().answer().strip().endsWith(expected.getLast()),
                        kind.name() + ": the last target is the answer's end");
                assertFalse(marked[0] || marked[marked.length - 1], "BOS and EOS are no answers");
                documents++;
                targets += runs.size();
            }
        }
        assertTrue(documents > 40 && targets > 3 * documents, documents + " documents, " + targets + " targets");
    }

    @Test
    void keyValueListsLookUpTheValuesTheyListed() {
        for (Doc.Encoded d : docs(KeyValueLists.DEFAULTS, 8, 1025)) {
            String text = d.doc().text();
            KeyValueLists.Format format = formatOf(text);
            String[] parts = splitAtLookups(text, format);
            Map<String, String> listed = pairs(parts[0], format);
            Map<String, String> asked = pairs(parts[1], format);
            assertTrue(listed.size() >= KeyValueLists.DEFAULTS.minPairs() - 1, text);
            assertTrue(asked.size() >= 1 && asked.size() <= listed.size(), text);
            asked.forEach((k, v) -> assertEquals(listed.get(k), v, "lookup of " + k + " in\n" + text));
            assertTrue(listed.containsValue(d.doc().answer().strip()), d.doc().answer());
        }
    }

    private static KeyValueLists.Format formatOf(String text) {
        KeyValueLists.Format best = null;
        for (KeyValueLists.Format f : KeyValueLists.FORMATS) {
            if (!f.header().isEmpty() && text.startsWith(f.header()) && (best == null || f.header().length() > best.header().length())) best = f;
        }
        if (best != null) return best;
        return text.split("\n")[0].contains(": ") ? KeyValueLists.FORMATS.get(1) : KeyValueLists.FORMATS.get(3);   // the two without a header
    }

    private static String[] splitAtLookups(String text, KeyValueLists.Format f) {
        String body = text.substring(f.header().length());
        if (f.lookups().equals("\n")) {                // "k: v" lines, then a blank line (or a gap of corpus text) and the lookups
            int at = body.lastIndexOf("\n\n");
            return new String[] {body.substring(0, body.indexOf("\n\n") < 0 ? at : body.indexOf("\n\n")), body.substring(at + 2)};
        }
        int at = body.lastIndexOf(f.lookups());
        return new String[] {body.substring(0, at), body.substring(at + f.lookups().length())};
    }

    /** The pairs of a list in format f: items are before + k + sep + v + after. */
    private static Map<String, String> pairs(String list, KeyValueLists.Format f) {
        Map<String, String> out = new HashMap<>();
        String sep = f.sep().strip();
        String item = Pattern.quote(f.before().strip()) + "\\s*([^\\s:=;,]+)\\s*" + Pattern.quote(sep) + "\\s*([^\\s;,]+)";
        Matcher m = Pattern.compile(item).matcher(list);
        while (m.find()) out.put(m.group(1), m.group(2));
        return out;
    }

    @Test
    void bareListsPutOnlyASpaceBetweenKeyAndValueAndLookUpWhatTheyListed() {
        List<Doc.Encoded> docs = docs(new KeyValueLists(4, 64, 0, 1), 16, 1025);
        java.util.Set<KeyValueLists.Format> seen = new java.util.HashSet<>();
        for (Doc.Encoded d : docs) {
            String text = d.doc().prompt();
            KeyValueLists.Format f = bareFormatOf(text);
            seen.add(f);
            String body = text.substring(f.header().length());
            if (!f.lookups().isEmpty()) body = body.replace(f.lookups(), "");     // the list's last pair already ends with the delimiter
            Map<String, String> values = new HashMap<>();
            int repeated = 0;
            String[] items = body.split(Pattern.quote(f.after()));
            for (int i = 0; i < items.length; i++) {
                String[] kv = items[i].strip().split(" ");
                if (i == items.length - 1) {                  // the last lookup: its key; the answer is its value
                    assertEquals(1, kv.length, text);
                    assertEquals(values.get(kv[0]), d.doc().answer().strip(), text);
                    assertEquals(" " + d.doc().answer().strip(), d.doc().answer());
                    continue;
                }
                assertEquals(2, kv.length, "one key, one space, one value: '" + items[i] + "' in\n" + text);
                String before = values.putIfAbsent(kv[0], kv[1]);
                if (before != null) {
                    assertEquals(before, kv[1], "a key looked up again has its listed value");
                    repeated++;
                }
            }
            assertTrue(repeated + 1 >= Math.max(1, (values.size()) / 2), "at least half the keys are looked up:\n" + text);
        }
        assertEquals(KeyValueLists.BARE_FORMATS.size(), seen.size(), "every bare format occurs");
    }

    /**
     * At a bare or filler share of 0 the windows are exactly those the generators wrote before the shares
     * existed: the hashes were computed with that code (these same windows: seed 3, six of 600 tokens each).
     */
    @Test
    void atShareZeroTheDocumentsAreExactlyTheFormerOnes() {
        assertEquals(7678582139435820L, windowsHash(new KeyValueLists(4, 64, 0.3, 0)), "kv-recall without bare lists");
        assertEquals(-2694532714803947L, windowsHash(new Needles(4, 4, 0, 0)), "needles without filler");
        assertNotEquals(7678582139435820L, windowsHash(new KeyValueLists(4, 64, 0.3, 0.5)), "a bare share changes some lists");
        // bare lists as they were before facts existed (hashes computed with that code)
        assertEquals(31250433661599295L, windowsHash(new KeyValueLists(4, 64, 0.3, 0.5, 0)), "bare lists without facts");
        assertEquals(-2003202248194291L, windowsHash(new KeyValueLists(4, 16, 0.3, 0.5, 0)), "bare lists of 4-16 pairs without facts");
        assertNotEquals(-2003202248194291L, windowsHash(new KeyValueLists(4, 16, 0.3, 0.5, 0.25)), "a fact share changes some lists");
        assertNotEquals(-2694532714803947L, windowsHash(new Needles(4, 4, 0.5, 0)), "a filler share changes some haystacks");
        assertEquals(-2694532714803947L, windowsHash(new Needles(4, 4, 0, 0)), "needles without decoys");
        assertNotEquals(-2694532714803947L, windowsHash(new Needles(4, 4, 0, 0.5)), "a decoy share changes some haystacks");
    }

    private static long windowsHash(SyntheticKind kind) {
        SyntheticDocuments d = new SyntheticDocuments(context, List.of(kind), 3);
        long h = 17;
        for (int j = 0; j < 6; j++) {
            int[] w = new int[600];
            d.window(0, j, w, 0, 600);
            h = h * 31 + Arrays.hashCode(w);
        }
        return h;
    }

    @Test
    void factListsAskQuestionsThatEndWithTheWordsBeforeTheListedValue() {
        checkFactLists(docs(new KeyValueLists(4, 16, 0, 0, 1), 24, 1025));
    }

    @Test
    void decoysStandBeforeEveryFactAndBeforeTheQuestions() {
        List<Doc.Encoded> docs = docs(new KeyValueLists(4, 16, 0.3, 0, 1, 1), 24, 1025);
        checkFactLists(docs);
        Pattern decoy = Pattern.compile("((?: The [a-z]+ is [a-z]+\\.){2,4})(?: The [a-z]+ (?:code|number|id) is | My [a-z]+ pin is )");
        for (Doc.Encoded d : docs) {
            String text = d.doc().prompt();
            Matcher m = decoy.matcher(text);
            assertTrue(m.find(), "decoys before the first fact in\n" + text);
            String decoys = m.group(1);
            KeyValueLists.Format f = KeyValueLists.FACT_FORMATS.stream().filter(x -> text.contains(x.sep())).findFirst().orElseThrow();
            int facts = text.substring(0, text.indexOf(f.lookups(), f.header().length())).split(Pattern.quote(f.sep()), -1).length - 1;
            int said = text.split(Pattern.quote(decoys), -1).length - 1;
            assertEquals(facts + 1, said, "the decoys before each of " + facts + " facts and before the questions in\n" + text);
            assertTrue(text.contains(decoys + f.lookups()), "the decoys right before the questions' header in\n" + text);
        }
        assertNotEquals(windowsHash(new KeyValueLists(4, 16, 0.3, 0.5, 0.25)), windowsHash(new KeyValueLists(4, 16, 0.3, 0.5, 0.25, 0.5)),
                "decoys change some fact lists");
        assertEquals(windowsHash(new KeyValueLists(4, 16, 0.3, 0.5, 0.25)), windowsHash(new KeyValueLists(4, 16, 0.3, 0.5, 0.25, 0)),
                "no decoys: the fact lists as they were");
    }

    private static void checkFactLists(List<Doc.Encoded> docs) {
        java.util.Set<KeyValueLists.Format> seen = new java.util.HashSet<>();
        int numbers = 0, multiToken = 0, documents = 0;
        for (Doc.Encoded d : docs) {
            String text = d.doc().prompt();
            KeyValueLists.Format f = KeyValueLists.FACT_FORMATS.stream()
                    .filter(x -> text.contains(x.sep()) && text.contains(x.ask().substring(0, x.ask().indexOf("{k}"))))
                    .findFirst().orElseThrow(() -> new AssertionError("no fact format in\n" + text));
            seen.add(f);
            Map<String, String> listed = new HashMap<>();
            int cut = text.indexOf(f.lookups(), f.header().length());
            Matcher m = Pattern.compile(Pattern.quote(f.before()) + "([a-z]+)" + Pattern.quote(f.sep()) + "([^ ]+?)" + Pattern.quote(f.after()))
                    .matcher(text.substring(0, cut));
            while (m.find()) assertNull(listed.put(m.group(1), m.group(2)), "a key listed twice in\n" + text);
            assertTrue(listed.size() >= 4, text);
            String lookups = text.substring(cut + f.lookups().length());
            int asked = 0;
            for (String k : listed.keySet()) {
                String question = f.ask(k) + f.before() + k + f.sep();
                if (lookups.contains(question)) {
                    assertTrue(lookups.contains(question + listed.get(k) + f.after()), "the answer to " + question + " in\n" + text);
                    asked++;
                }
            }
            assertTrue(asked + 1 >= listed.size() / 2, "at least half the keys are asked:\n" + text);
            String key = listed.keySet().stream().filter(k -> text.endsWith(f.ask(k) + f.before() + k + f.sep().stripTrailing())).findFirst()
                    .orElseThrow(() -> new AssertionError("the prompt ends with a question and the words before a value:\n" + text));
            assertEquals(" " + listed.get(key), d.doc().answer());
            documents++;
            if (d.doc().answer().strip().matches("[1-9][0-9]{2,6}")) numbers++;
            if (context.count(d.doc().answer()) > 1) multiToken++;
        }
        assertEquals(KeyValueLists.FACT_FORMATS.size(), seen.size(), "every fact format occurs");
        assertTrue(numbers >= documents / 2, "mostly numbers of 3-7 digits: " + numbers + " of " + documents);
        assertTrue(multiToken >= documents / 2, "mostly answers of several tokens: " + multiToken + " of " + documents);
    }

    private static KeyValueLists.Format bareFormatOf(String text) {
        for (KeyValueLists.Format f : KeyValueLists.BARE_FORMATS) if (!f.header().isEmpty() && text.startsWith(f.header())) return f;
        return text.contains(" |") ? KeyValueLists.BARE_FORMATS.get(2) : KeyValueLists.BARE_FORMATS.get(1);
    }

    @Test
    void fillerHaystacksRepeatOnePassageAndHideTheFactsBetweenRepeats() {
        List<Doc.Encoded> docs = docs(new Needles(4, 4, 1, 0), 10, 1025).stream().filter(d -> d.tokens().length >= 400).toList();
        assertTrue(docs.size() >= 5, "long documents: " + docs.size());
        for (Doc.Encoded d : docs) {
            String prompt = d.doc().prompt();
            for (String value : d.doc().answer().strip().split(", ")) assertTrue(prompt.contains(" is " + value + "."), value + " in\n" + prompt);
            String hay = prompt.replace(Needles.INTRO, "").replaceAll(" (The|One) [a-z ]+ (is|are) [^.]+\\.( [^ ]+ is the hidden number\\.| Remember it\\.)?", "")
                    .replaceAll("(?s)\\s*What (is|are) .*$", "").strip();
            String passage = hay.substring(0, hay.indexOf('.', Math.min(hay.length() - 1, 8)) + 1);
            while (!hay.startsWith(passage + " " + passage.substring(0, Math.min(passage.length(), 8)))) {
                int next = hay.indexOf('.', passage.length());       // the passage may hold sentences of its own
                assertTrue(next > 0 && next + 1 < hay.length() / 2, "the haystack repeats one passage:\n" + hay);
                passage = hay.substring(0, next + 1);
            }
            int repeats = (hay.length() + 1) / (passage.length() + 1);
            assertTrue(repeats >= 3, repeats + " repeats of '" + passage + "' in\n" + hay);
            assertEquals((passage + " ").repeat(repeats).strip(), hay, "nothing but the passage again and again");
        }
    }

    @Test
    void decoyHaystacksSayTheirDecoysAgainAndAgainAndRightBeforeTheQuestion() {
        Pattern trailing = Pattern.compile("((?: The [a-z]+ is [a-z]+\\.)+)\\s*What [^\n]*$");
        Pattern sentence = Pattern.compile(" The [a-z]+ is [a-z]+\\.");
        List<Doc.Encoded> docs = docs(new Needles(4, 4, 0, 1), 10, 1025).stream().filter(d -> d.tokens().length >= 400).toList();
        assertTrue(docs.size() >= 5, "long documents: " + docs.size());
        for (Doc.Encoded d : docs) {
            String prompt = d.doc().prompt();
            for (String value : d.doc().answer().strip().split(", ")) assertTrue(prompt.contains(" is " + value + "."), value + " in\n" + prompt);
            Matcher m = trailing.matcher(prompt);
            assertTrue(m.find(), "decoys right before the question in\n" + prompt);
            // the run before the question may hold the decoys more than once: they are its shortest period
            List<String> run = sentence.matcher(m.group(1)).results().map(MatchResult::group).toList();
            int period = 2;
            while (period < run.size() && !String.join("", run).equals(String.join("", run.subList(0, period)).repeat(run.size() / period))) period++;
            assertTrue(period <= 4, "two to four decoy sentences: " + run);
            String decoys = String.join("", run.subList(0, period));
            assertFalse(decoys.matches(".*\\d.*"), "decoys hold no number: " + decoys);
            int said = prompt.split(Pattern.quote(decoys), -1).length - 1;
            assertTrue(said >= Needles.MIN_DECOYS + 1 && said <= Needles.MAX_DECOYS + 1, said + " times '" + decoys + "' in\n" + prompt);
            String[] between = prompt.split(Pattern.quote(decoys), -1);
            for (int i = 1; i < between.length - 1; i++) {
                String before = between[i - 1];
                // no sentence end after the depth: at the haystack's end, perhaps among needles
                boolean atTheEnd = String.join("", Arrays.asList(between).subList(i, between.length - 1))
                        .replaceAll(" (The|One) [a-z ]+ is [^.]+\\.( [^ ]+ is the hidden number\\.| Remember it\\.)?", "").isBlank();
                if (!before.isEmpty() && !atTheEnd) assertTrue(before.matches("(?s).*[.?!\n]\\s*$"), "decoys after a sentence's end, not after '"
                        + before.substring(Math.max(0, before.length() - 30)) + "'");
            }
        }
        assertEquals(docs(new Needles(4, 4, 0, 0), 10, 1025).stream().map(d -> d.doc().prompt()).toList(),
                docs(Needles.DEFAULTS, 10, 1025).stream().map(d -> d.doc().prompt()).toList(), "no decoys: the needles as they were");
    }

    @Test
    void needlesAskForValuesHiddenInTheHaystack() {
        for (Doc.Encoded d : docs(Needles.DEFAULTS, 10, 1025)) {
            String prompt = d.doc().prompt();
            for (String value : d.doc().answer().strip().split(", ")) {
                assertTrue(prompt.contains(" is " + value + ".") || prompt.contains(" is " + value + ". "), value + " in\n" + prompt);
            }
            assertTrue(prompt.endsWith(" is") || prompt.endsWith(" are"), prompt.substring(Math.max(0, prompt.length() - 80)));
        }
    }

    @Test
    void needlesGoAfterSentenceEnds() {
        String hay = "One two. Three four. Five six.";
        List<Needles.Placed> facts = List.of(new Needles.Placed(" A.", "a", 0.0), new Needles.Placed(" B.", "b", 0.4),
                new Needles.Placed(" C.", "c", 1.0));
        assertEquals(" A.One two. Three four. B. Five six. C.", Needles.insert(hay, facts));
    }

    @Test
    void variableChainsAnswerWithTheChainOfTheAskedNumber() {
        Pattern let = Pattern.compile(" Let (\\w+) be (\\w+)\\.");
        for (Doc.Encoded d : docs(VariableChains.DEFAULTS, 10, 1025)) {
            String prompt = d.doc().prompt();
            Map<String, String> assigned = new HashMap<>();
            Matcher m = let.matcher(prompt);
            while (m.find()) assigned.put(m.group(1), m.group(2));
            String number = prompt.replaceAll("(?s).*Which names hold (\\d+)\\? They are$", "$1");
            List<String> names = List.of(d.doc().answer().strip().split(", "));
            assertTrue(names.size() >= 2);
            assertEquals(number, assigned.get(names.getFirst()));
            for (int i = 1; i < names.size(); i++) assertEquals(names.get(i - 1), assigned.get(names.get(i)));
            long holding = assigned.keySet().stream().filter(n -> resolve(assigned, n).equals(number)).count();
            assertEquals(names.size(), holding, "exactly the answer's names hold the number:\n" + prompt);
        }
    }

    private static String resolve(Map<String, String> assigned, String name) {
        String v = assigned.get(name);
        return assigned.containsKey(v) ? resolve(assigned, v) : v;
    }

    @Test
    void repeatsEndWithTheStartOfTheirSpanAgainAndTheAnswerIsItsRest() {
        for (Doc.Encoded d : docs(RepeatedSpans.DEFAULTS, 10, 1025)) {
            String text = d.doc().text();
            int longest = 0;                          // the longest start of the text that it ends with again
            for (int l = text.length() / 2; l > 0 && longest == 0; l--) if (text.startsWith(text.substring(text.length() - l))) longest = l;
            String span = text.substring(0, longest);
            assertTrue(span.length() > d.doc().answer().length(), "the document ends with its first span again:\n" + text);
            assertTrue(span.endsWith(d.doc().answer()));
        }
    }

    @Test
    void aWindowIsAPureFunctionOfSeedKindAndIndex() {
        SyntheticDocuments a = new SyntheticDocuments(context, KINDS, 11), b = new SyntheticDocuments(context, KINDS, 11),
                other = new SyntheticDocuments(context, KINDS, 12);
        for (int kind = 0; kind < KINDS.size(); kind++) {
            int[] x = new int[300], y = new int[300], z = new int[300], w = new int[300];
            a.window(kind, 5, x, 0, 300);
            b.window(kind, 5, y, 0, 300);
            a.window(kind, 6, z, 0, 300);
            other.window(kind, 5, w, 0, 300);
            assertArrayEquals(x, y);
            assertFalse(Arrays.equals(x, z), "another index, another window");
            assertFalse(Arrays.equals(x, w), "another seed, another window");
            for (int t : x) assertTrue(t >= 0 && t < tokenizer.vocabSize());
        }
    }

    @Test
    void aWindowTooShortForAnyDocumentIsCorpusText() {
        SyntheticDocuments d = new SyntheticDocuments(context, List.of(Needles.DEFAULTS), 1);
        assertTrue(d.documents(0, 0, 50).isEmpty());
        int[] w = new int[50];
        d.window(0, 0, w, 0, 50);
        long[] found = new long[1];
        for (long s = 0; s + 50 <= data.train().tokens(); s++) {
            int[] c = new int[50];
            data.train().read(s, c, 0, 50);
            if (Arrays.equals(c, w)) found[0]++;
        }
        assertTrue(found[0] >= 1, "the window is a span of the corpus");
    }

    @Test
    void theByteLevelTestTokenizerHasTooFewWordsAndMadeUpOnesStandIn() {
        try (Tokenizer small = Tokenizer.load(TestTokenizers.dir(TestTokenizers.BYTE_LEVEL))) {
            SyntheticContext c = new SyntheticContext(small, data.train(), Lexicon.of(small));
            assertTrue(c.lexicon().words().size() < Lexicon.MIN_WORDS);
            String w = c.lexicon().word(new SplitMix64(1));
            assertTrue(w.matches("([bdfgklmnprstvz][aeiou]){2,3}"), w);
        }
    }

    // ------------------------------------------------------------------ the mix

    @Test
    void everyBlockHoldsExactlyTheSharesAndNumbersEachSourceInOrder() {
        SyntheticMix mix = new SyntheticMix(3, List.of(0.15, 0.1, 0.05));
        int blocks = 3, n = blocks * SyntheticMix.BLOCK;
        int[][] perBlock = new int[blocks][4];
        List<List<Long>> indices = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (long k = 0; k < n; k++) {
            int b = (int) (k / SyntheticMix.BLOCK);
            switch (mix.slotOf(k)) {
                case SyntheticMix.Corpus(long c) -> {
                    perBlock[b][3]++;
                    indices.get(3).add(c);
                }
                case SyntheticMix.Synthetic(int kind, long j) -> {
                    perBlock[b][kind]++;
                    indices.get(kind).add(j);
                }
            }
        }
        for (int[] counts : perBlock) assertArrayEquals(new int[] {150, 100, 50, 700}, counts);
        for (List<Long> idx : indices) {       // each source's indices are 0, 1, 2, … (a bijection), in block order
            List<Long> sorted = new ArrayList<>(idx);
            java.util.Collections.sort(sorted);
            for (int i = 0; i < sorted.size(); i++) assertEquals(i, sorted.get(i));
        }
        assertEquals(0.3, mix.syntheticShare(), 1e-12);
        assertEquals(0.1, mix.share(1), 1e-12);
        assertEquals(mix.slotOf(1234), new SyntheticMix(3, List.of(0.15, 0.1, 0.05)).slotOf(1234));
        assertFalse(positions(mix).equals(positions(new SyntheticMix(4, List.of(0.15, 0.1, 0.05)))), "the seed shuffles the blocks");
    }

    private static List<Integer> positions(SyntheticMix mix) {
        List<Integer> p = new ArrayList<>();
        for (int k = 0; k < 100; k++) if (mix.slotOf(k) instanceof SyntheticMix.Synthetic) p.add(k);
        return p;
    }

    @Test
    void withoutSyntheticKindsSequenceKIsCorpusSequenceK() {
        SyntheticMix none = new SyntheticMix(9, List.of());
        for (long k : new long[] {0, 1, 999, 1000, 123456789}) assertEquals(new SyntheticMix.Corpus(k), none.slotOf(k));
        PackedSequences seq = new PackedSequences(data.train(), 32);
        SequenceOrder order = new SequenceOrder(5, seq.count());
        TrainingStream stream = TrainingStream.corpusOnly(seq, order);
        int[] a = new int[3 * 33], b = new int[33];
        stream.sequences(40, 3, a);
        for (int r = 0; r < 3; r++) {
            seq.window(order.windowAt(40 + r), b, 0);
            assertArrayEquals(b, Arrays.copyOfRange(a, r * 33, (r + 1) * 33));
        }
    }

    @Test
    void aBatchIsItsSequencesOneByOneAndTheSameInAnyOrder() {
        PackedSequences seq = new PackedSequences(data.train(), 256);
        SyntheticMix mix = new SyntheticMix(2, List.of(0.2, 0.2, 0.2, 0.2));
        TrainingStream stream = new TrainingStream(seq, new SequenceOrder(2, seq.count()), mix, new SyntheticDocuments(context, KINDS, 2));
        int rows = 12;
        int[] batch = new int[rows * 257];
        stream.sequences(500, rows, batch);
        int synthetic = 0;
        for (int r = rows - 1; r >= 0; r--) {                // backwards: nothing depends on what was asked before
            int[] one = new int[257];
            stream.sequence(500 + r, one, 0);
            assertArrayEquals(one, Arrays.copyOfRange(batch, r * 257, (r + 1) * 257), "row " + r);
            if (stream.slotOf(500 + r) instanceof SyntheticMix.Synthetic) synthetic++;
        }
        assertTrue(synthetic > 0 && synthetic < rows, "a batch mixes both: " + synthetic);
        // Consecutive micro-batches come from the batch written ahead, others are written at once: the same tokens.
        for (long first : new long[] {512, 516, 520, 100, 104, 520}) {
            int[] got = new int[4 * 257];
            stream.sequences(first, 4, got);
            for (int r = 0; r < 4; r++) {
                int[] one = new int[257];
                stream.sequence(first + r, one, 0);
                assertArrayEquals(one, Arrays.copyOfRange(got, r * 257, (r + 1) * 257), "sequence " + (first + r));
            }
        }
        stream.close();
    }

    /**
     * The answer marks come with the tokens, the same written at once or ahead, asked with or without marks before:
     * the synthetic windows' marks are their documents' answer tokens, corpus windows have none.
     */
    /**
     * Targets after characters of two to four UTF-8 bytes are found by their bytes, not their characters; on a
     * SentencePiece tokenizer after its leading space too; tokens of another text mark nothing.
     */
    @Test
    void answerTokensCountBytesAndRefuseTokensOfAnotherText() {
        Doc.Writer w = new Doc.Writer().append("Le café naïve 😀 dit: ").answer("Zürich").append(", puis ");
        int end = w.length();
        Doc d = w.answer("42 €").append(".").doc(end);
        for (Tokenizer t : List.of(tokenizer, Tokenizer.load(TestTokenizers.dir(TestTokenizers.SENTENCEPIECE)))) {
            int[] ids = t.encode(d.text());
            boolean[] marked = AnswerTokens.of(t, new Doc.Encoded(d, ids));
            assertNotNull(marked, "the tokens spell the text");
            List<String> runs = new ArrayList<>();
            for (int i = 0; i < ids.length; i++) {
                int j = i;
                while (j < ids.length && marked[j]) j++;
                if (j > i) runs.add(t.decode(Arrays.copyOfRange(ids, i, j)).strip());
                i = j;
            }
            assertEquals(List.of("Zürich", "42 €"), runs);
            assertNull(AnswerTokens.of(t, new Doc.Encoded(d, t.encode("Le cafe naive dit: Zurich, puis 42."))));
            if (t != tokenizer) t.close();
        }
    }

    @Test
    void theAnswerMarksOfABatchAreThoseOfItsWindowsWrittenAtOnceOrAhead() {
        PackedSequences seq = new PackedSequences(data.train(), 256);
        SyntheticMix mix = new SyntheticMix(3, List.of(0.3, 0.3, 0.2));
        SyntheticDocuments docs = new SyntheticDocuments(context, KINDS.subList(0, 3), 3);
        TrainingStream stream = new TrainingStream(seq, new SequenceOrder(3, seq.count()), mix, docs);
        int n = 257, marked = 0, corpus = 0;
        for (long first : new long[] {40, 44, 48, 44, 52, 56}) {     // at once, then ahead, ahead, at once, at once (52: ahead without marks), ahead
            int[] tokens = new int[4 * n];
            byte[] answers = new byte[4 * n];
            if (first == 52) stream.sequences(48, 4, new int[4 * n]);             // the batch written ahead has no marks
            int[] peeked = new int[4 * n];
            byte[] peekedMarks = new byte[4 * n];
            if (first == 44) stream.peek(first, 4, peeked, peekedMarks);           // a look between writing ahead and taking it
            stream.sequences(first, 4, tokens, answers);
            if (first == 44) {
                assertArrayEquals(tokens, peeked, "a look sees the batch's sequences");
                assertArrayEquals(answers, peekedMarks, "and their marks");
            }
            for (int r = 0; r < 4; r++) {
                int[] one = new int[n];
                stream.sequence(first + r, one, 0);
                assertArrayEquals(one, Arrays.copyOfRange(tokens, r * n, (r + 1) * n), "sequence " + (first + r));
                byte[] expect = new byte[n];
                byte mark = 0;
                if (stream.slotOf(first + r) instanceof SyntheticMix.Synthetic(int kind, long j)) {
                    docs.window(kind, j, new int[n], expect, 0, n);
                    mark = SyntheticKind.answerMark(docs.kinds().get(kind).name());
                } else {
                    corpus++;
                }
                assertArrayEquals(expect, Arrays.copyOfRange(answers, r * n, (r + 1) * n), "marks of sequence " + (first + r));
                for (byte b : expect) {
                    assertTrue(b == 0 || b == mark, "a window marks its own kind's answers alone: " + b + " in a window of mark " + mark);
                    if (b != 0) marked++;
                }
            }
        }
        assertTrue(marked > 20 && corpus > 0, marked + " marks, " + corpus + " corpus rows");
        assertEquals(0, docs.unmarked(), "every document's tokens spell its text");
        stream.close();
    }

    @Test
    void eachPhaseGivesTheSequencesOfItsOwnMixFromItsFirstSequenceOn() {
        PackedSequences seq = new PackedSequences(data.train(), 256);
        SequenceOrder order = new SequenceOrder(2, seq.count());
        SyntheticMix lists = new SyntheticMix(2, List.of(1.0)), half = new SyntheticMix(2, List.of(0.0, 0.5));
        List<SyntheticKind> listKinds = List.of(KINDS.getFirst()), halfKinds = List.of(KINDS.getFirst(), KINDS.get(1));
        try (TrainingStream a = new TrainingStream(seq, order, lists, new SyntheticDocuments(context, listKinds, 2));
             TrainingStream b = new TrainingStream(seq, order, half, new SyntheticDocuments(context, halfKinds, 2));
             TrainingStream none = TrainingStream.corpusOnly(seq, order);
             TrainingStream phased = new TrainingStream(seq, order, List.of(
                     new TrainingStream.Phase(0, lists, new SyntheticDocuments(context, listKinds, 2)),
                     new TrainingStream.Phase(20, half, new SyntheticDocuments(context, halfKinds, 2)),
                     new TrainingStream.Phase(36, new SyntheticMix(2, List.of()), null)))) {
            for (long first : new long[] {16, 20, 24, 28, 32, 36, 40, 0, 18}) {   // in order (written ahead) and not, across the phases' starts
                int[] got = new int[4 * 257];
                phased.sequences(first, 4, got);
                for (int r = 0; r < 4; r++) {
                    long k = first + r;
                    TrainingStream from = k < 20 ? a : k < 36 ? b : none;
                    int[] one = new int[257];
                    from.sequence(k, one, 0);
                    assertArrayEquals(one, Arrays.copyOfRange(got, r * 257, (r + 1) * 257), "sequence " + k);
                    assertEquals(from.slotOf(k), phased.slotOf(k), "slot of " + k);
                }
            }
            assertEquals(20, phased.phaseOf(35).first());
            assertEquals(0, phased.phaseOf(19).first());
            assertTrue(phased.slotOf(5) instanceof SyntheticMix.Synthetic, "lists only before 20");
            assertTrue(phased.slotOf(40) instanceof SyntheticMix.Corpus, "the corpus alone from 36");
        }
        assertThrows(IllegalArgumentException.class, () -> new TrainingStream(seq, order, List.of(new TrainingStream.Phase(4, lists,
                new SyntheticDocuments(context, listKinds, 2)))), "the first phase starts at 0");
        assertThrows(IllegalArgumentException.class, () -> new TrainingStream(seq, order, List.of(
                new TrainingStream.Phase(0, new SyntheticMix(2, List.of()), null), new TrainingStream.Phase(0, new SyntheticMix(2, List.of()), null))));
        assertThrows(IllegalArgumentException.class, () -> new TrainingStream.Phase(0, lists, null), "a synthetic mix needs its documents");
    }

    @Test
    void sharesMustBeThousandthsAndAddUpToAtMostOne() {
        assertEquals(300, SyntheticMix.countOf(0.3));
        assertThrows(T2rException.class, () -> SyntheticMix.countOf(0.0005));
        assertThrows(T2rException.class, () -> SyntheticMix.countOf(-0.1));
        T2rException e = assertThrows(T2rException.class, () -> new SyntheticMix(0, List.of(0.6, 0.5)));
        assertTrue(e.getMessage().contains("more than 1"), e.getMessage());
        assertThrows(T2rException.class, () -> new KeyValueLists(5, 4, 0.3, 0));
        assertThrows(T2rException.class, () -> new Needles(1, 4, 0, 0));
        assertThrows(T2rException.class, () -> new KeyValueLists(4, 8, 0.3, 1.5));
        assertThrows(T2rException.class, () -> new KeyValueLists(4, 8, 0.3, 0, 0.5, -0.5));
        assertEquals("kv-recall: bare_share and fact_share add up to 1.1, more than 1",
                assertThrows(T2rException.class, () -> new KeyValueLists(4, 8, 0.3, 0.5, 0.6)).getMessage());
        assertThrows(T2rException.class, () -> new Needles(4, 4, -0.1, 0));
        assertEquals("needles: decoy_share must be in [0, 1] (got 2.0)", assertThrows(T2rException.class, () -> new Needles(4, 4, 0, 2)).getMessage());
        assertThrows(T2rException.class, () -> new RepeatedSpans(2, 8));
        assertThrows(T2rException.class, () -> new VariableChains(1));
    }
}
