package gsat2r.serve;

import gsat2r.api.Session;
import gsat2r.api.T2rModel;
import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.core.generate.Generator;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The demo teacher's converted student ({@code t2r convert --teacher models/kjv-llama}, default options), made
 * once per test class, and the references the server is checked against.
 */
final class DemoStudent {
    static final Path TEACHER = Path.of("..", "models", "kjv-llama");

    static final List<String> VERSES = List.of(
            "In the beginning God created the heaven and the earth.",
            "And the earth was without form, and void; and darkness was upon the face of the deep.",
            "And the Spirit of God moved upon the face of the waters.",
            "And God said, Let there be light: and there was light.",
            "And God saw the light, that it was good: and God divided the light from the darkness.",
            "And God called the light Day, and the darkness he called Night.",
            "And the evening and the morning were the first day.");

    final Path dir;
    final LanguageModel model;
    final Tokenizer tokenizer;

    private DemoStudent(Path dir, LanguageModel model, Tokenizer tokenizer) {
        this.dir = dir;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** The same references computed with another model of the same tokenizer (the teacher). */
    DemoStudent with(LanguageModel other) {
        return new DemoStudent(dir, other, tokenizer);
    }

    DemoStudent(Path tmp) {
        this.dir = tmp.resolve("kjv-student");
        Converter.convert(TEACHER, dir, ConvertOptions.defaults(), false);
        this.model = T2rModel.loadLanguageModel(dir);
        this.tokenizer = Tokenizer.load(dir);
    }

    /** Prompts of 2 to ~250 tokens: verses, verse pairs and long runs of verses (past several 64-token boundaries). */
    static List<String> prompts(int count) {
        List<String> out = new ArrayList<>();
        for (int i = 0; out.size() < count; i++) {
            StringBuilder p = new StringBuilder();
            int verses = switch (i % 4) {
                case 0 -> 0;
                case 1 -> 1;
                case 2 -> 3;
                default -> 9 + i % 7;
            };
            if (verses == 0) p.append(VERSES.get(i % VERSES.size()), 0, 12 + i % 9);
            for (int v = 0; v < verses; v++) p.append(v == 0 ? "" : " ").append(VERSES.get((i + v) % VERSES.size()));
            out.add(p.toString());
        }
        return out;
    }

    /** What {@code t2r generate --greedy --max-new-tokens N --prompt TEXT} computes: the session API from a BOS-encoded prompt. */
    Generator.Result greedy(String prompt, int maxNewTokens) {
        Session s = T2rModel.of(model, tokenizer).newSession();
        s.append(tokenizer.encode(prompt));
        return s.generate(maxNewTokens, Sampler.greedy(), piece -> { });
    }
}
