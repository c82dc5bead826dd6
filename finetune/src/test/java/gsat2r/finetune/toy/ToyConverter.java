package gsat2r.finetune.toy;

import gsat2r.core.model.ModelDirectory;

import gsat2r.finetune.student.ConversionOptions;
import gsat2r.finetune.student.StudentConverter;

import java.nio.file.Path;

/** Converts toy teachers into toy students ({@link ToyModels#convert}). */
public final class ToyConverter implements StudentConverter {
    @Override
    public String name() {
        return "toy";
    }

    @Override
    public boolean supports(ModelDirectory teacher) {
        return ToyModel.MODEL_TYPE.equals(teacher.modelType());
    }

    @Override
    public void convert(Path teacher, ConversionOptions options, Path out) {
        ToyModels.convert(teacher, options, out);
    }
}
