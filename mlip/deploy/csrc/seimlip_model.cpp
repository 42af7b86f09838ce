/* The torch side of the seimlip plugin (see seimlip_model.h). */
#include "seimlip_model.h"

#include "seimlip_model_impl.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <cstring>
#include <stdexcept>

namespace seimlip {

static const char *const METADATA_FILE = "seimlip.json";

std::string first_line(const std::string &text) {
  auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

Model::Model(const std::string &path) : impl_(new Impl) {
  // The profiling executor re-optimises for every new graph size (each MD step has another
  // edge count) and costs seconds per re-optimisation; the plain interpreter is as fast here.
  torch::jit::setGraphExecutorOptimize(false);
  torch::jit::ExtraFilesMap extra{{METADATA_FILE, ""}};
  try {
    impl_->module = torch::jit::load(path, torch::kCPU, extra);
  } catch (const std::exception &e) {
    throw std::runtime_error("cannot read '" + path + "' as a TorchScript model file (" +
                             first_line(e.what()) + ")");
  }
  impl_->metadata = extra[METADATA_FILE];
  impl_->module.eval();
}

Model::~Model() = default;

const std::string &Model::metadata() const { return impl_->metadata; }

int Model::n_heads() const {
  if (!impl_->module.hasattr("n_heads")) return 1;
  auto value = impl_->module.attr("n_heads");
  return value.isInt() ? static_cast<int>(value.toInt()) : 1;
}

std::string Model::configure(int cuda_index, bool float64) {
  impl_->dtype = float64 ? torch::kFloat64 : torch::kFloat32;
  if (cuda_index >= 0 && torch::cuda::is_available()) {
    int n = static_cast<int>(torch::cuda::device_count());
    impl_->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(cuda_index % n));
  } else {
    impl_->device = torch::Device(torch::kCPU);
  }
  impl_->module.to(impl_->device);
  return impl_->device.str();
}

void Model::set_num_threads(int n) {
  if (n > 0) torch::set_num_threads(n);
}

int Model::cuda_device_count() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

void to_host(const torch::Tensor &t, std::vector<double> &out) {
  auto host = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  out.resize(host.numel());
  if (host.numel()) std::memcpy(out.data(), host.data_ptr<double>(), sizeof(double) * host.numel());
}

// Tensors on the model's device; from_blob does not copy, .to() copies (device or dtype change)
// or we clone on CPU.
Inputs make_inputs(const Model::Impl &m, int64_t n_atoms, const int64_t *species,
                          int64_t n_edges, const int64_t *edge_index, const double *edge_vec) {
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto t_species = torch::from_blob(const_cast<int64_t *>(species), {n_atoms}, i64);
  auto t_index = torch::from_blob(const_cast<int64_t *>(edge_index), {2, n_edges}, i64);
  auto t_vec = torch::from_blob(const_cast<double *>(edge_vec), {n_edges, 3}, f64);
  if (m.device.is_cpu())
    return {t_species.clone(), t_index.clone(), t_vec.to(m.dtype, /*non_blocking=*/false, /*copy=*/true)};
  return {t_species.to(m.device), t_index.to(m.device), t_vec.to(m.device, m.dtype)};
}

// The deployed module's output dict (DeployedPotential.forward / combine) into `out`.
void read_result(const c10::Dict<c10::IValue, c10::IValue> &result, int64_t node_rows,
                        bool want_node_energy, bool want_members, Result &out) {
  out.node_rows = node_rows;
  out.energy = result.at("energy").toTensor().item<double>();
  to_host(result.at("forces").toTensor(), out.forces);
  std::vector<double> vir;
  to_host(result.at("virial").toTensor(), vir);
  if (vir.size() != 6) throw std::runtime_error("model returned a virial of the wrong size");
  for (int k = 0; k < 6; ++k) out.virial[k] = vir[k];
  if (want_node_energy) to_host(result.at("node_energy").toTensor(), out.node_energy);
  if (want_members) {
    to_host(result.at("member_energies").toTensor(), out.member_energy);
    to_host(result.at("member_forces").toTensor(), out.member_forces);
    if (result.contains("member_node_energies"))
      to_host(result.at("member_node_energies").toTensor(), out.member_node_energy);
    else
      out.member_node_energy.clear();
  }
  if (result.contains("atom_energy_std")) {
    to_host(result.at("atom_energy_std").toTensor(), out.atom_energy_std);
    to_host(result.at("head_energies").toTensor(), out.head_energies);
  } else {
    out.atom_energy_std.clear();
    out.head_energies.clear();
  }
}

void Model::compute(int64_t n_atoms, int64_t n_local, const int64_t *species, int64_t n_edges,
                    const int64_t *edge_index, const double *edge_vec, bool want_node_energy,
                    bool want_members, Result &out) {
  auto &m = *impl_;
  try {
    Inputs in = make_inputs(m, n_atoms, species, n_edges, edge_index, edge_vec);
    std::vector<torch::jit::IValue> inputs{in.species, in.index, in.vec, n_local};
    read_result(m.module.forward(inputs).toGenericDict(), n_atoms, want_node_energy, want_members, out);
  } catch (const c10::Error &e) {
    throw std::runtime_error(std::string("model evaluation failed: ") + first_line(e.what_without_backtrace()));
  }
}

}  // namespace seimlip
