package gsat2r.eval;

import java.util.SplittableRandom;

/**
 * Random streams derived from the user's seed, one per task and grid point, so that a task's prompts
 * depend only on the seed, the task and the point: not on which other tasks ran, nor in what order.
 */
final class Seeds {
    private Seeds() {}

    static SplittableRandom random(long seed, String task, long point) {
        long h = mix(seed);
        for (int i = 0; i < task.length(); i++) h = mix(h ^ task.charAt(i));
        return new SplittableRandom(mix(h ^ point));
    }

    /** SplitMix64's finaliser: every input bit moves every output bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
