package gsat2r.finetune;

import gsat2r.finetune.student.StudentConverter;
import gsat2r.training.BackendFactory;
import gsat2r.core.T2rException;

import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/** The backend factories and student converters available to the trainer. */
public record Backends(List<BackendFactory> factories, List<StudentConverter> converters) {

    public Backends {
        factories = List.copyOf(factories);
        converters = List.copyOf(converters);
    }

    /** Everything registered through {@link ServiceLoader} on the class path. */
    public static Backends discover() {
        ClassLoader loader = Backends.class.getClassLoader();
        return new Backends(ServiceLoader.load(BackendFactory.class, loader).stream().map(ServiceLoader.Provider::get).toList(),
                ServiceLoader.load(StudentConverter.class, loader).stream().map(ServiceLoader.Provider::get).toList());
    }

    public BackendFactory factoryFor(String device, String studentModelType) {
        for (BackendFactory f : factories) if (f.supports(device, studentModelType)) return f;
        throw new T2rException("no " + device + " training backend for a student of model_type \"" + studentModelType
                + "\" in this build (available: " + (factories.isEmpty() ? "none"
                : factories.stream().map(BackendFactory::name).collect(Collectors.joining(", "))) + ")");
    }

    public StudentConverter converterFor(String teacherModelType) {
        for (StudentConverter c : converters) if (c.supports(teacherModelType)) return c;
        throw new T2rException("no student converter for a teacher of model_type \"" + teacherModelType
                + "\" in this build (available: " + (converters.isEmpty() ? "none"
                : converters.stream().map(StudentConverter::name).collect(Collectors.joining(", "))) + ")");
    }
}
