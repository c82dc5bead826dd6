package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.serve.ChatFormat;
import gsat2r.serve.ChatMessage;

import java.util.List;

/**
 * A chat request rendered with the model's own Hugging Face chat template ({@link ChatTemplate}), as
 * {@code apply_chat_template(messages, add_generation_prompt=True)} does: the template writes the special tokens
 * (BOS) itself, so the tokenizer adds none; the reply ends at the model's end-of-sequence tokens.
 */
final class TemplateChatFormat implements ChatFormat {
    private final ChatTemplate template;

    TemplateChatFormat(ChatTemplate template) {
        this.template = template;
    }

    @Override
    public Prompt render(List<ChatMessage> messages) {
        List<ChatTemplate.Message> m = messages.stream().map(x -> new ChatTemplate.Message(x.role(), x.content())).toList();
        try {
            return new Prompt(template.render(m, true), false, List.of());
        } catch (T2rException e) {        // the template refuses the conversation (e.g. roles that do not alternate)
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    @Override
    public String template() {
        return template.text();
    }

    @Override
    public String describe() {
        return "the model's chat template (" + template.source().getFileName() + ")";
    }
}
