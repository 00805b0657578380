/**
 * Converts PyTorch checkpoints into Skipjack model files, in pure Java and without executing anything the
 * checkpoint contains.
 *
 * <p>Data flows one way through small stages:
 * <pre>
 *   checkpoint file (mapped read-only)
 *     -> CheckpointReader         which container? zip (PyTorch >= 1.6, via ZipArchive) or legacy pickle stream
 *        ZipCheckpointReader / LegacyCheckpointReader
 *     -> RestrictedUnpickler      the object pickle as a tree of plain values (dicts, tuples, TensorRef, StorageRef);
 *                                 only the globals in Allowlist are accepted, nothing is ever called
 *     -> StateDict                finds the state_dict (bare, or under "state_dict" / "model"), strips "module."
 *     -> TensorAssembler          dtype, shape, stride and storage offset -> contiguous little-endian
 *                                 float32 / int64 bytes, bounds-checked against the storage; fp32 tensors that are
 *                                 already contiguous stay slices of the mapping
 *     -> ArchitectureDetector     names and shapes -> a ResNetSpec (or --arch)
 *     -> ResNetSpec.validate      every expected tensor present with its exact shape, nothing unexpected
 *     -> dev.skipjack.format.ModelFileWriter (temporary file + rename)
 * </pre>
 * Everything that can fail on a bad input fails before the writer opens its output, so a failed conversion
 * leaves no file. {@link dev.skipjack.weights.Converter} is the API; {@link dev.skipjack.weights.ConvertCommand}
 * and {@link dev.skipjack.weights.InspectCommand} are the {@code ./skipjack convert} and {@code inspect}
 * subcommands.
 */
package dev.skipjack.weights;
