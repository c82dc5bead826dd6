package gsat2r.finetune;

import gsat2r.core.T2rException;
import gsat2r.core.model.ModelDirectory;
import gsat2r.finetune.student.StudentConverter;
import gsat2r.training.Device;
import gsat2r.training.Devices;

import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/** The devices and student converters available to the trainer (plug-ins on the class path, or given by tests). */
public record Plugins(Devices devices, List<StudentConverter> converters) {

    public Plugins {
        converters = List.copyOf(converters);
    }

    public Plugins(List<Device> devices, List<StudentConverter> converters) {
        this(new Devices(devices), converters);
    }

    /** Everything registered through {@link ServiceLoader} on the class path. */
    public static Plugins discover() {
        return new Plugins(Devices.discover(),
                ServiceLoader.load(StudentConverter.class, Plugins.class.getClassLoader()).stream().map(ServiceLoader.Provider::get).toList());
    }

    public Device device(String name) {
        return devices.get(name);
    }

    public StudentConverter converterFor(ModelDirectory teacher) {
        for (StudentConverter c : converters) if (c.supports(teacher)) return c;
        throw new T2rException(teacher.configFile() + ": no student converter for a teacher of model_type \"" + teacher.modelType()
                + "\" in this build (available: " + (converters.isEmpty() ? "none"
                : converters.stream().map(StudentConverter::name).collect(Collectors.joining(", "))) + ")");
    }
}
