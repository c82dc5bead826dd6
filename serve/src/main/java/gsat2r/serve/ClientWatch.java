package gsat2r.serve;

import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Request;

import java.io.IOException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;

/**
 * Finds out whether the client of a whole (non-streamed) response has gone while its request runs. A streamed
 * response finds out when a write fails, but a whole response writes nothing until the end, and Jetty does not read an
 * HTTP/1.1 connection while a request is being handled, so a client that closes its end goes unnoticed.
 *
 * <p>The watch registers the connection's socket with a selector of its own (a channel may belong to several; Jetty's
 * own selector and its interest in reading are left alone) and polls it without blocking: a client waiting for its
 * response sends nothing, so readable with no bytes to read is the end of the stream or a reset, the client gone.
 * Readable with bytes is a request pipelined behind this one: they are left for Jetty to read after the response, and
 * the watch ends. A client that only shuts down its sending side (half-close) looks gone too: TCP cannot tell them
 * apart. Connections other than plain HTTP/1 sockets are not watched.
 *
 * <p>Used by one request thread; {@link #stop} (idempotent) closes the selector, and must come before the request
 * ends, since the socket is not fully closed while a selector still holds it. A selector of its own (rather than one
 * shared by every request) costs a watched request two file descriptors (the JVM raises its soft limit to the hard one
 * on Linux; one that cannot be opened leaves the request unwatched), and spares a shared one's pitfalls: a connection's
 * next request registering before the last one's cancelled key has left the selector, and a closed socket held open
 * until the selector wakes.
 */
final class ClientWatch {
    private static final ClientWatch NONE = new ClientWatch(null, null);
    private final SocketChannel channel;
    private final Selector selector;
    private boolean gone, stopped;

    private ClientWatch(SocketChannel channel, Selector selector) {
        this.channel = channel;
        this.selector = selector;
        this.stopped = selector == null;
    }

    /** Starts watching the connection of {@code request}, whose body has been read whole. */
    static ClientWatch start(Request request) {
        HttpVersion version = request.getConnectionMetaData().getHttpVersion();
        EndPoint endPoint = request.getConnectionMetaData().getConnection().getEndPoint();
        if ((version != HttpVersion.HTTP_1_1 && version != HttpVersion.HTTP_1_0)
                || !(endPoint instanceof SocketChannelEndPoint socket)) {
            return NONE;
        }
        Selector selector = null;
        try {
            selector = Selector.open();
            socket.getChannel().register(selector, SelectionKey.OP_READ);
            return new ClientWatch(socket.getChannel(), selector);
        } catch (IOException | RuntimeException e) {      // a closed channel, no file descriptors left, ...: not watched
            closeQuietly(selector);
            return NONE;
        }
    }

    /** Whether the client has closed (or reset) its end of the connection: polls the socket without blocking. */
    boolean gone() {
        if (stopped) return gone;
        try {
            if (!channel.isOpen()) {
                gone = true;
            } else if (selector.selectNow() > 0) {
                selector.selectedKeys().clear();
                // The stream is not closed after: closing it would close the channel.
                if (channel.socket().getInputStream().available() == 0) gone = true;
                else stop();                                  // a pipelined request's bytes: Jetty's to read
            }
        } catch (IOException | ClosedSelectorException e) {
            gone = true;
        }
        if (gone) stop();
        return gone;
    }

    /** Ends the watch. */
    void stop() {
        if (stopped) return;
        stopped = true;
        closeQuietly(selector);
    }

    private static void closeQuietly(Selector selector) {
        if (selector == null) return;
        try {
            selector.close();
        } catch (IOException ignored) {
            // nothing was selected through it that anyone waits for
        }
    }
}
