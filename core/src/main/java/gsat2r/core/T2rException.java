package gsat2r.core;

/**
 * A failure the user can act on: bad input, a malformed file, an unsupported setting.
 * The message is one line that names the file or setting and the problem; the CLI prints it as
 * {@code error: <message>} and exits with status 1, without a stack trace.
 */
public class T2rException extends RuntimeException {
    public T2rException(String message) {
        super(message);
    }

    public T2rException(String message, Throwable cause) {
        super(message, cause);
    }
}
