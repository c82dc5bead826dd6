package gsat2r.core.data.synthetic;

import gsat2r.core.data.SplitMix64;

import java.util.List;

/**
 * One kind of recall-bearing synthetic document (a recipe's {@code data.synthetic[i].kind}). A kind
 * writes a document as text from a random stream and a token budget; {@link SyntheticDocuments} encodes
 * it with the teacher's tokenizer and packs documents into training windows.
 *
 * <p>The formats are this project's own (not the teacher's training formats, not {@code t2r eval}'s
 * prompts): what the student should learn is the recall itself, and the evaluation then checks that it
 * carries over to formats it never trained on.
 */
public sealed interface SyntheticKind permits KeyValueLists, Needles, RepeatedSpans, VariableChains {

    /** The names recipes use, in the order of {@link #parseName}. */
    List<String> NAMES = List.of("kv-recall", "needles", "repeats", "variables");

    /** The recipe name of this kind. */
    String name();

    /** Fewest tokens (BOS and EOS included) a document of this kind needs. */
    int minTokens();

    /**
     * A document whose tokens ({@code context.document(doc.text())}) number at most {@code budget}, with
     * those tokens, or null when none fits. Deterministic: the same stream state and budget give the same
     * document.
     */
    Doc.Encoded document(SyntheticContext context, SplitMix64 rng, int budget);

    /** The settings as a recipe writes them (without kind and share), for run.json. */
    java.util.Map<String, Object> settings();

    /** Whether {@code name} is a known kind. */
    static boolean isName(String name) {
        return NAMES.contains(name);
    }

    /**
     * How a training window's answer marks ({@link SyntheticDocuments#window}) mark the answer tokens of kind
     * {@code name}: 1 + its place in {@link #NAMES}; 0 marks a token that is no answer.
     */
    static byte answerMark(String name) {
        int i = NAMES.indexOf(name);
        if (i < 0) throw new IllegalArgumentException("no synthetic kind \"" + name + "\"");
        return (byte) (i + 1);
    }
}
