package gsat2r.finetune.student;

import gsat2r.core.model.ModelDirectory;

import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.safetensors.DType;
import gsat2r.finetune.student.ConversionOptions;
import gsat2r.finetune.student.StudentConverter;

import java.nio.file.Path;

/**
 * The recipe's conversion ({@code student} given as options): {@link Converter}, the code behind
 * {@code t2r convert}, turning a Llama or Mistral teacher into a GSA student in fla's layout.
 */
public final class GsaStudentConverter implements StudentConverter {
    @Override
    public String name() {
        return "gsa (t2r convert)";
    }

    @Override
    public boolean supports(ModelDirectory teacher) {
        return teacher.kind() == ModelDirectory.Kind.TEACHER;
    }

    @Override
    public GsaConfig studentConfig(ModelDirectory teacher, ConversionOptions o) {
        return Converter.studentConfig(teacher.teacherConfig(), options(o), teacher.path().getFileName().toString());
    }

    @Override
    public void convert(Path teacher, ConversionOptions o, Path out) {
        Converter.convert(teacher, out, options(o), false);
    }

    /** The converter's options for a recipe's: the same fields, the dtype spelt as in config.json. */
    public static ConvertOptions options(ConversionOptions o) {
        DType dtype = switch (o.dtype()) {
            case "float32" -> DType.F32;
            case "bfloat16" -> DType.BF16;
            default -> throw new T2rException("student.dtype must be float32 or bfloat16, got \"" + o.dtype() + "\"");
        };
        return new ConvertOptions(o.slots(), o.gateNormalizer(), GateInit.parse(o.gateInit()), o.seed(), dtype, o.keepAttention(), o.windows(),
                o.shortConv(), gsat2r.converter.ShortConvInit.parse(o.shortConvInit()), o.kvHeads());
    }
}
