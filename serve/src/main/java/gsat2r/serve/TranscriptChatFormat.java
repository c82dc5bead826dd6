package gsat2r.serve;

import java.util.List;

/**
 * The chat format of a model without a chat template: a plain transcript, one turn per line,
 * <pre>
 * System: You are a concise assistant.
 * User: What is a slot?
 * Assistant:
 * </pre>
 * ({@code developer} messages are written as {@code System}), encoded with the tokenizer's special tokens (BOS),
 * the reply ending at EOS or where the model starts the next turn ({@code "\nUser:"}, {@code "\nSystem:"}).
 */
public final class TranscriptChatFormat implements ChatFormat {
    public static final TranscriptChatFormat INSTANCE = new TranscriptChatFormat();

    private static final List<String> STOPS = List.of("\nUser:", "\nSystem:");

    private TranscriptChatFormat() {}

    @Override
    public Prompt render(List<ChatMessage> messages) {
        StringBuilder text = new StringBuilder();
        for (ChatMessage m : messages) {
            text.append(speaker(m.role())).append(": ").append(m.content().strip()).append('\n');
        }
        text.append("Assistant:");
        return new Prompt(text.toString(), true, STOPS);
    }

    @Override
    public String describe() {
        return "plain transcript (System:/User:/Assistant: lines)";
    }

    private static String speaker(String role) {
        return switch (role) {
            case "system", "developer" -> "System";
            case "user" -> "User";
            case "assistant" -> "Assistant";
            default -> throw new IllegalArgumentException("no speaker for role " + role);
        };
    }
}
