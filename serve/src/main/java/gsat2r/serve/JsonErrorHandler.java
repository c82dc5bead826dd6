package gsat2r.serve;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Errors that Jetty answers itself, before a request reaches the routes (a malformed request line or header, a URI
 * too long, a request during Jetty's own shutdown), in the same OpenAI JSON error body as every other error, instead
 * of Jetty's HTML page.
 */
final class JsonErrorHandler extends ErrorHandler {

    @Override
    protected void generateResponse(Request request, Response response, int code, String message, Throwable cause,
                                    Callback callback) {
        String text = message == null || message.isBlank() ? HttpStatus.getMessage(code) : message;
        ApiError error = new ApiError(code, code >= 500 ? "server_error" : "invalid_request_error", null, null, text);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        byte[] body = (Responses.error(error).toString() + "\n").getBytes(StandardCharsets.UTF_8);
        response.write(true, ByteBuffer.wrap(body), callback);
    }
}
