package gsat2r.training;

import gsat2r.core.T2rException;

import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/** The devices of this build (every {@link Device} plug-in on the class path), looked up by name. */
public record Devices(List<Device> all) {

    public Devices {
        all = List.copyOf(all);
    }

    /** Every device registered through {@link ServiceLoader}. */
    public static Devices discover() {
        return new Devices(ServiceLoader.load(Device.class, Devices.class.getClassLoader()).stream().map(ServiceLoader.Provider::get).toList());
    }

    /**
     * The device called {@code name} that runs {@code student} (several plug-ins may share a name, each for its
     * own kind of student); one line when none does.
     */
    public Device get(String name, gsat2r.core.model.ModelDirectory student) {
        get(name);
        for (Device d : all) if (d.name().equals(name) && d.accepts(student)) return d;
        throw new T2rException(student.configFile() + ": no " + name + " device in this build runs this model (model_type "
                + (student.modelType() == null ? "absent" : "\"" + student.modelType() + "\"") + ")");
    }

    /** The device called {@code name}; one line listing the others when this build has none of that name. */
    public Device get(String name) {
        for (Device d : all) if (d.name().equals(name)) return d;
        throw new T2rException("no device '" + name + "' in this build (available: "
                + (all.isEmpty() ? "none" : all.stream().map(Device::name).distinct().collect(Collectors.joining(", "))) + ")");
    }
}
