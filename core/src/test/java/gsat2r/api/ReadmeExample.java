package gsat2r.api;

import gsat2r.core.generate.Sampler;

import java.nio.file.Path;

/**
 * The example of the README's "Java API" section, compiled by the build and run by
 * {@link SessionTest}; {@link ReadmeExampleTest} checks that the README shows exactly the lines
 * between the markers.
 */
final class ReadmeExample {
    private ReadmeExample() {}

    static String run(Path studentDir, Path stateFile) {
        // README:begin
        try (T2rModel model = T2rModel.load(studentDir)) {             // a student (or teacher) directory
            try (Session system = model.newSession()) {              // closing gives its state back at once
                system.append("You are a concise assistant.");      // the prompt, BOS added
                system.save(stateFile);                              // any process with this model can restore it
            }
            try (Session chat = model.restore(stateFile)) {          // later, elsewhere: the prompt is not recomputed
                chat.append(" Question: what is a slot?");           // appended as plain text
                var answer = chat.generate(40, Sampler.sampling(0.8, 0.95, 42), System.out::print);
                return answer.text();                                // also answer.newIds(), answer.stop()
            }
        }
        // README:end
    }
}
