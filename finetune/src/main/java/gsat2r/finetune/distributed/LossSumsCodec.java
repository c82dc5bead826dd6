package gsat2r.finetune.distributed;

import gsat2r.training.LossSums;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * Loss sums as bytes, for gathering them from every rank: a list of {@link LossSums} (null entries
 * allowed: a rank with no batch in a group of validation windows), each its positions and its terms in
 * order, values as their exact fp64 bits.
 */
public final class LossSumsCodec {
    private LossSumsCodec() {}

    public static byte[] encode(List<LossSums> list) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(list.size());
            for (LossSums s : list) {
                out.writeBoolean(s != null);
                if (s == null) continue;
                out.writeLong(s.positions());
                out.writeInt(s.sums().size());
                for (var e : s.sums().entrySet()) {
                    out.writeUTF(e.getKey());
                    out.writeDouble(e.getValue());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    public static List<LossSums> decode(byte[] data) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
            int n = in.readInt();
            List<LossSums> list = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                if (!in.readBoolean()) {
                    list.add(null);
                    continue;
                }
                long positions = in.readLong();
                int terms = in.readInt();
                LinkedHashMap<String, Double> sums = new LinkedHashMap<>();
                for (int t = 0; t < terms; t++) sums.put(in.readUTF(), in.readDouble());
                list.add(new LossSums(positions, sums));
            }
            return list;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every rank's list, in rank order. */
    public static List<List<LossSums>> decodeAll(List<byte[]> all) {
        List<List<LossSums>> out = new ArrayList<>(all.size());
        for (byte[] b : all) out.add(decode(b));
        return out;
    }
}
