package gsat2r.cli;

/**
 * A stand-in rank for {@link RankLauncherTest}: prints what the launcher told it through the
 * environment (a line on stdout, one on stderr), then exits with status {@code S} if its rank is
 * {@code R} (argument {@code fail=R:S}), else after {@code sleep=MILLIS} (default 0) with 0.
 */
public final class LauncherProbe {
    public static void main(String[] args) throws InterruptedException {
        String rank = System.getenv("RANK");
        System.out.println("hello from rank " + rank + " of " + System.getenv("WORLD_SIZE") + " (local " + System.getenv("LOCAL_RANK")
                + " of " + System.getenv("LOCAL_WORLD_SIZE") + ", node " + System.getenv("NODE_RANK") + ", rendezvous "
                + System.getenv("MASTER_ADDR") + ":" + System.getenv("MASTER_PORT") + ")");
        System.out.flush();
        System.err.println("a note from rank " + rank);
        System.err.flush();
        long sleep = 0;
        for (String a : args) {
            if (a.startsWith("fail=") && a.substring(5).split(":")[0].equals(rank)) {
                Thread.sleep(200);
                System.exit(Integer.parseInt(a.split(":")[1]));
            }
            if (a.startsWith("sleep=")) sleep = Long.parseLong(a.substring(6));
        }
        Thread.sleep(sleep);
    }
}
