package gsat2r.eval.plot;

import java.awt.Graphics2D;
import java.awt.geom.AffineTransform;
import java.awt.geom.Path2D;
import java.util.HashMap;
import java.util.Map;

/**
 * Text drawn as filled pixel shapes, without java.awt's font machinery: a server with no fonts installed
 * (no fontconfig configuration, no font files: where {@code Graphics2D.drawString} fails with "Fontconfig head
 * is null" or "No physical fonts found") still gets labelled plots. The glyphs are this project's own: printable
 * ASCII and a few typographic marks on a 5 × 7 grid with two rows below the baseline, proportionally spaced and
 * scaled by an integer. Characters without a glyph are drawn as their closest ASCII form, else as '?'.
 */
public final class PixelFont {

    /** Pixels of the grid: 7 above the baseline, 2 below; a glyph is at most 5 wide, one column of space after it. */
    static final int ASCENT = 7, DESCENT = 2, GAP = 1;

    private final int scale;

    /** @param scale screen pixels per glyph pixel (2 gives text about 14 pixels tall) */
    public PixelFont(int scale) {
        if (scale < 1) throw new IllegalArgumentException("scale " + scale);
        this.scale = scale;
    }

    public int ascent() {
        return ASCENT * scale;
    }

    /** Line height: glyphs, descenders and two pixels of leading. */
    public int height() {
        return (ASCENT + DESCENT + 2) * scale;
    }

    public int width(String text) {
        int w = 0;
        String s = ascii(text);
        for (int i = 0; i < s.length(); i++) w += (glyph(s.charAt(i)).width + GAP) * scale;
        return Math.max(0, w - GAP * scale);
    }

    /** Draws {@code text} with its baseline at y, starting at x, in the graphics' colour and transform. */
    public void draw(Graphics2D g, String text, double x, double baseline) {
        g.fill(outline(text, x, baseline));
    }

    /** The text as one shape (for rotation: {@code g.fill(transform.createTransformedShape(...))}). */
    public Path2D.Double outline(String text, double x, double baseline) {
        Path2D.Double p = new Path2D.Double();
        String s = ascii(text);
        double cx = x, top = baseline - ASCENT * scale;
        for (int i = 0; i < s.length(); i++) {
            Glyph gl = glyph(s.charAt(i));
            for (int row = 0; row < ASCENT + DESCENT; row++) {
                int bits = gl.rows[row];
                for (int col = 0; col < gl.width; col++) {
                    if ((bits & (1 << (4 - col - gl.left))) != 0) {
                        p.append(new java.awt.geom.Rectangle2D.Double(cx + col * scale, top + row * scale, scale, scale), false);
                    }
                }
            }
            cx += (gl.width + GAP) * scale;
        }
        return p;
    }

    /** Draws text rotated a quarter turn anticlockwise (a y-axis label), its baseline at x, reading upwards from y. */
    public void drawUp(Graphics2D g, String text, double x, double y) {
        AffineTransform t = AffineTransform.getRotateInstance(-Math.PI / 2, x, y);
        g.fill(t.createTransformedShape(outline(text, x, y)));
    }

    // ---------------------------------------------------------------- glyphs

    private record Glyph(int[] rows, int left, int width) {}

    private static final Map<Character, Glyph> GLYPHS = new HashMap<>();

    /** Typographic characters the reports use, by the ASCII they are drawn as when they have no glyph of their own. */
    static String ascii(String text) {
        StringBuilder s = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            s.append(switch (c) {
                case '\u2013', '\u2014', '\u2212' -> "-";
                case '\u2018', '\u2019' -> "'";
                case '\u201c', '\u201d' -> "\"";
                case '\u2026' -> "...";
                case '\u00d7' -> "x";
                case '\u00e9', '\u00e8' -> "e";
                case '\u00a0' -> " ";
                default -> String.valueOf(GLYPHS.containsKey(c) ? c : '?');
            });
        }
        return s.toString();
    }

    private static Glyph glyph(char c) {
        return GLYPHS.getOrDefault(c, GLYPHS.get('?'));
    }

    /** Defines a glyph from rows of '#' and '.', 7 above the baseline then up to 2 below. */
    private static void def(char c, String picture) {
        String[] lines = picture.split("/");
        int[] rows = new int[ASCENT + DESCENT];
        int min = 5, max = -1;
        for (int r = 0; r < lines.length; r++) {
            for (int col = 0; col < lines[r].length(); col++) {
                if (lines[r].charAt(col) == '#') {
                    rows[r] |= 1 << (4 - col);
                    min = Math.min(min, col);
                    max = Math.max(max, col);
                }
            }
        }
        if (max < 0) GLYPHS.put(c, new Glyph(rows, 0, 2));           // space
        else GLYPHS.put(c, new Glyph(rows, min, max - min + 1));
    }

    static {
        def(' ', ".....");
        def('!', "..#../..#../..#../..#../..#../...../..#..");
        def('"', ".#.#./.#.#./.#.#.");
        def('#', ".#.#./.#.#./#####/.#.#./#####/.#.#./.#.#.");
        def('$', "..#../.####/#.#../.###./..#.#/####./..#..");
        def('%', "##.../##..#/...#./..#../.#.../#..##/...##");
        def('&', ".##../#..#./#.#../.#.../#.#.#/#..#./.##.#");
        def('\'', "..#../..#../.#...");
        def('(', "...#./..#../.#.../.#.../.#.../..#../...#.");
        def(')', ".#.../..#../...#./...#./...#./..#../.#...");
        def('*', "...../..#../#.#.#/.###./#.#.#/..#../.....");
        def('+', "...../..#../..#../#####/..#../..#../.....");
        def(',', "...../...../...../...../...../..#../..#../.#...");
        def('-', "...../...../...../.###./...../...../.....");
        def('.', "...../...../...../...../...../...../..#..");
        def('/', "....#/....#/...#./..#../.#.../#..../#....");
        def('0', ".###./#...#/#..##/#.#.#/##..#/#...#/.###.");
        def('1', "..#../.##../..#../..#../..#../..#../.###.");
        def('2', ".###./#...#/....#/...#./..#../.#.../#####");
        def('3', "#####/...#./..#../...#./....#/#...#/.###.");
        def('4', "...#./..##./.#.#./#..#./#####/...#./...#.");
        def('5', "#####/#..../####./....#/....#/#...#/.###.");
        def('6', "..##./.#.../#..../####./#...#/#...#/.###.");
        def('7', "#####/....#/...#./..#../.#.../.#.../.#...");
        def('8', ".###./#...#/#...#/.###./#...#/#...#/.###.");
        def('9', ".###./#...#/#...#/.####/....#/...#./.##..");
        def(':', "...../...../..#../...../...../..#../.....");
        def(';', "...../...../..#../...../...../..#../..#../.#...");
        def('<', "...#./..#../.#.../#..../.#.../..#../...#.");
        def('=', "...../...../#####/...../#####/...../.....");
        def('>', ".#.../..#../...#./....#/...#./..#../.#...");
        def('?', ".###./#...#/....#/...#./..#../...../..#..");
        def('@', ".###./#...#/#.###/#.#.#/#.###/#..../.###.");
        def('A', ".###./#...#/#...#/#####/#...#/#...#/#...#");
        def('B', "####./#...#/#...#/####./#...#/#...#/####.");
        def('C', ".###./#...#/#..../#..../#..../#...#/.###.");
        def('D', "###../#..#./#...#/#...#/#...#/#..#./###..");
        def('E', "#####/#..../#..../####./#..../#..../#####");
        def('F', "#####/#..../#..../####./#..../#..../#....");
        def('G', ".###./#...#/#..../#.###/#...#/#...#/.####");
        def('H', "#...#/#...#/#...#/#####/#...#/#...#/#...#");
        def('I', ".###./..#../..#../..#../..#../..#../.###.");
        def('J', "..###/...#./...#./...#./...#./#..#./.##..");
        def('K', "#...#/#..#./#.#../##.../#.#../#..#./#...#");
        def('L', "#..../#..../#..../#..../#..../#..../#####");
        def('M', "#...#/##.##/#.#.#/#.#.#/#...#/#...#/#...#");
        def('N', "#...#/#...#/##..#/#.#.#/#..##/#...#/#...#");
        def('O', ".###./#...#/#...#/#...#/#...#/#...#/.###.");
        def('P', "####./#...#/#...#/####./#..../#..../#....");
        def('Q', ".###./#...#/#...#/#...#/#.#.#/#..#./.##.#");
        def('R', "####./#...#/#...#/####./#.#../#..#./#...#");
        def('S', ".####/#..../#..../.###./....#/....#/####.");
        def('T', "#####/..#../..#../..#../..#../..#../..#..");
        def('U', "#...#/#...#/#...#/#...#/#...#/#...#/.###.");
        def('V', "#...#/#...#/#...#/#...#/#...#/.#.#./..#..");
        def('W', "#...#/#...#/#...#/#.#.#/#.#.#/#.#.#/.#.#.");
        def('X', "#...#/#...#/.#.#./..#../.#.#./#...#/#...#");
        def('Y', "#...#/#...#/.#.#./..#../..#../..#../..#..");
        def('Z', "#####/....#/...#./..#../.#.../#..../#####");
        def('[', ".###./.#.../.#.../.#.../.#.../.#.../.###.");
        def('\\', "#..../#..../.#.../..#../...#./....#/....#");
        def(']', ".###./...#./...#./...#./...#./...#./.###.");
        def('^', "..#../.#.#./#...#");
        def('_', "...../...../...../...../...../...../...../#####");
        def('`', ".#.../..#..");
        def('a', "...../...../.###./....#/.####/#...#/.####");
        def('b', "#..../#..../#.##./##..#/#...#/#...#/####.");
        def('c', "...../...../.###./#..../#..../#...#/.###.");
        def('d', "....#/....#/.##.#/#..##/#...#/#...#/.####");
        def('e', "...../...../.###./#...#/#####/#..../.###.");
        def('f', "..##./.#..#/.#.../###../.#.../.#.../.#...");
        def('g', "...../...../.####/#...#/#...#/.####/....#/#...#/.###.");
        def('h', "#..../#..../#.##./##..#/#...#/#...#/#...#");
        def('i', "..#../...../.##../..#../..#../..#../.###.");
        def('j', "...#./...../..##./...#./...#./...#./...#./#..#./.##..");
        def('k', "#..../#..../#..#./#.#../##.../#.#../#..#.");
        def('l', ".##../..#../..#../..#../..#../..#../.###.");
        def('m', "...../...../##.#./#.#.#/#.#.#/#.#.#/#.#.#");
        def('n', "...../...../#.##./##..#/#...#/#...#/#...#");
        def('o', "...../...../.###./#...#/#...#/#...#/.###.");
        def('p', "...../...../####./#...#/#...#/####./#..../#..../#....");
        def('q', "...../...../.####/#...#/#...#/.####/....#/....#/....#");
        def('r', "...../...../#.##./##..#/#..../#..../#....");
        def('s', "...../...../.####/#..../.###./....#/####.");
        def('t', ".#.../.#.../###../.#.../.#.../.#..#/..##.");
        def('u', "...../...../#...#/#...#/#...#/#..##/.##.#");
        def('v', "...../...../#...#/#...#/#...#/.#.#./..#..");
        def('w', "...../...../#...#/#...#/#.#.#/#.#.#/.#.#.");
        def('x', "...../...../#...#/.#.#./..#../.#.#./#...#");
        def('y', "...../...../#...#/#...#/#...#/.####/....#/#...#/.###.");
        def('z', "...../...../#####/...#./..#../.#.../#####");
        def('{', "...#./..#../..#../.#.../..#../..#../...#.");
        def('|', "..#../..#../..#../..#../..#../..#../..#..");
        def('}', ".#.../..#../..#../...#./..#../..#../.#...");
        def('~', "...../...../.#.../#.#.#/...#./...../.....");
        def('\u2016', ".#.#./.#.#./.#.#./.#.#./.#.#./.#.#./.#.#.");      // ‖ (KL divergence)
        def('\u00b1', "..#../..#../#####/..#../..#../...../#####");     // ±
        def('\u00b7', "...../...../...../..#../...../...../.....");     // ·
        def('\u2248', "...../.#.../#.#.#/...#./.#.../#.#.#/...#.");     // ≈
        def('\u00b0', ".##../#..#./.##..");                              // °
        def('\u2264', "...#./..#../.#.../..#../...#./...../#####");     // ≤
        def('\u2265', ".#.../..#../...#./..#../.#.../...../#####");     // ≥
    }
}
