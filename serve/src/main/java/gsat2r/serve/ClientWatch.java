package gsat2r.serve;

import org.eclipse.jetty.io.AbstractEndPoint;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * Finds out whether the client of a whole (non-streamed) response has gone while its request runs. A streamed
 * response finds out when a write fails, but a whole response writes nothing until the end, and Jetty does not read an
 * HTTP/1.1 connection while a request is being handled, so a client that closes its end goes unnoticed. The watch asks
 * the connection's endpoint to say when it becomes readable: a client waiting for its response sends nothing, so
 * readable with no bytes to read is the end of the stream (or a reset), the client gone. Readable with bytes is a
 * request pipelined behind this one: they are left to the connection, which reads them after the response, and the
 * watch says nothing more.
 *
 * <p>{@link #stop} must come before the response is written, so that the connection's own interest in reading, which
 * follows the response, finds none left. A connection of another kind (not a plain socket) is not watched.
 */
final class ClientWatch implements Callback {
    private final AbstractEndPoint endPoint;
    private final SocketChannel channel;
    private volatile boolean fired, stopped, gone;

    private ClientWatch(AbstractEndPoint endPoint, SocketChannel channel) {
        this.endPoint = endPoint;
        this.channel = channel;
    }

    /** Starts watching the connection of {@code request}, whose body has been read whole. */
    static ClientWatch start(Request request) {
        EndPoint ep = request.getConnectionMetaData().getConnection().getEndPoint();
        if (!(ep instanceof SocketChannelEndPoint socket)) return new ClientWatch(null, null);
        ClientWatch watch = new ClientWatch(socket, socket.getChannel());
        if (!socket.tryFillInterested(watch)) watch.fired = true;     // someone else reads it: nothing to watch
        return watch;
    }

    /** Whether the client closed its end of the connection (or reset it). */
    boolean gone() {
        return gone;
    }

    /** Ends the watch; before the response is written. */
    void stop() {
        if (stopped) return;
        stopped = true;
        // Takes the watch's interest back: the callback runs now (and does nothing) unless readiness already ran it.
        if (endPoint != null && !fired) endPoint.getFillInterest().fillable();
    }

    @Override
    public void succeeded() {
        fired = true;
        if (stopped) return;
        try {
            gone = channel.socket().getInputStream().available() == 0;
        } catch (IOException e) {
            gone = true;
        }
    }

    @Override
    public void failed(Throwable x) {
        fired = true;
        if (!stopped) gone = true;
    }

    @Override
    public InvocationType getInvocationType() {
        return InvocationType.NON_BLOCKING;
    }
}
