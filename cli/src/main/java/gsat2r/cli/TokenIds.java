package gsat2r.cli;

import picocli.CommandLine;

import java.util.Arrays;

/** The value of {@code --ids}: comma-separated token ids, e.g. {@code 0,522,266}. */
record TokenIds(int[] ids) {

    TokenIds {
        ids = ids.clone();
    }

    @Override
    public int[] ids() {
        return ids.clone();
    }

    /** Parses {@code 1,2,3} (spaces allowed around the commas); anything else is a usage error. */
    static final class Converter implements CommandLine.ITypeConverter<TokenIds> {
        @Override
        public TokenIds convert(String value) {
            String[] parts = value.strip().split("\\s*,\\s*");
            if (value.isBlank()) throw new CommandLine.TypeConversionException("no token ids given (expected e.g. 1,2,3)");
            int[] ids = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                try {
                    ids[i] = Integer.parseInt(parts[i]);
                } catch (NumberFormatException e) {
                    throw new CommandLine.TypeConversionException(
                            "'" + parts[i] + "' is not a token id (expected comma-separated integers, e.g. 1,2,3)");
                }
                if (ids[i] < 0) throw new CommandLine.TypeConversionException("token ids are >= 0, got " + ids[i]);
            }
            return new TokenIds(ids);
        }
    }

    @Override
    public String toString() {
        return Arrays.toString(ids);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenIds t && Arrays.equals(ids, t.ids);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(ids);
    }
}
