package gsat2r.core.gsa;

/**
 * Gradients of a scalar loss with respect to the inputs of one GSA call, in the inputs' layouts:
 * {@code dq [B,T,H,K]}, {@code dk [B,T,Hkv,K]}, {@code dv [B,T,Hkv,V]}, {@code ds, dg [B,T,Hkv,M]}.
 * Gradients of inputs shared by a GQA group are summed over the group's query heads.
 *
 * @param dInitial gradient with respect to the initial state (zeros when it is not needed)
 */
public record GsaGradients(float[] dq, float[] dk, float[] dv, float[] ds, float[] dg, GsaState dInitial) {}
