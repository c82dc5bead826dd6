package gsat2r.core.model.gsa;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A named subset of a student's parameter tensors, e.g. the ones a training stage updates. Backward
 * writes gradients only for tensors in the group it is given (and stops descending once no layer below
 * holds one); an optimizer steps the same tensors.
 */
public final class ParameterGroup {
    private final String name;
    private final List<ParameterView> views;
    private final Map<ParameterView, Boolean> members = new IdentityHashMap<>();

    public ParameterGroup(String name, List<ParameterView> views) {
        this.name = name;
        this.views = List.copyOf(views);
        for (ParameterView v : this.views) members.put(v, Boolean.TRUE);
    }

    public String name() {
        return name;
    }

    /** The tensors, in buffer order. */
    public List<ParameterView> views() {
        return views;
    }

    /** Whether {@code view} (the very object of the model's layout) is in the group. */
    public boolean contains(ParameterView view) {
        return members.containsKey(view);
    }

    /** Total floats. */
    public long size() {
        long n = 0;
        for (ParameterView v : views) n += v.size();
        return n;
    }

    public boolean isEmpty() {
        return views.isEmpty();
    }

    @Override
    public String toString() {
        return name + " (" + views.size() + " tensors, " + size() + " parameters)";
    }
}
