package gsat2r.finetune.distributed;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** For tests of runs started by torchrun. */
public final class TorchrunAgent {
    private TorchrunAgent() {
    }

    /** A stand-in for torchrun's agent: a listening socket on a port whose next port is free (where the ranks will meet). */
    public static ServerSocket standIn() throws IOException {
        for (int attempt = 0; ; attempt++) {
            ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            if (s.getLocalPort() < 65535) {
                try (ServerSocket next = new ServerSocket(s.getLocalPort() + 1)) {
                    return s;
                } catch (IOException taken) {
                    if (attempt == 20) throw taken;
                }
            }
            s.close();
        }
    }
}
