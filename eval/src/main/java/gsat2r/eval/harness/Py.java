package gsat2r.eval.harness;

import java.util.regex.Pattern;

/**
 * Python's string operations where Java's differ: {@code len} counts code points, {@code strip} removes
 * what {@code str.isspace} calls whitespace (no-break space included), {@code capitalize} upper-cases
 * (title-cases) the first character and lower-cases the rest, and {@code re.split(r"\s+", s)} keeps empty
 * ends.
 */
final class Py {
    private Py() {}

    private static final Pattern WHITESPACE_RUNS = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    static int len(String s) {
        return s.codePointCount(0, s.length());
    }

    static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85 || (c >= 0x1c && c <= 0x1f);
    }

    static String strip(String s) {
        return lstrip(rstrip(s));
    }

    static String rstrip(String s) {
        int end = s.length();
        while (end > 0) {
            int c = s.codePointBefore(end);
            if (!isSpace(c)) break;
            end -= Character.charCount(c);
        }
        return s.substring(0, end);
    }

    static String lstrip(String s) {
        int start = 0;
        while (start < s.length()) {
            int c = s.codePointAt(start);
            if (!isSpace(c)) break;
            start += Character.charCount(c);
        }
        return s.substring(start);
    }

    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        return new String(Character.toChars(Character.toTitleCase(first)))
                + s.substring(Character.charCount(first)).toLowerCase(java.util.Locale.ROOT);
    }

    /** {@code len(re.split(r"\s+", s))}: the harness's word count. */
    static int wordCount(String s) {
        return WHITESPACE_RUNS.split(s, -1).length;
    }

    static int utf8Length(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    }
}
