package gsat2r.serve;

/** One message of a chat request: its role ({@code system}, {@code developer}, {@code user}, {@code assistant}) and text. */
public record ChatMessage(String role, String content) {}
