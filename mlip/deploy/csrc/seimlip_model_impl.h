/* The torch side of seimlip::Model, shared by seimlip_model.cpp and seimlip_halo.cpp (torch
   translation units only: never include this from a file that sees LAMMPS headers). */
#ifndef SEIMLIP_MODEL_IMPL_H
#define SEIMLIP_MODEL_IMPL_H

#include "seimlip_model.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace seimlip {

struct Model::Impl {
  torch::jit::script::Module module;
  std::string metadata;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype{torch::kFloat64};
};

struct Inputs {
  torch::Tensor species, index, vec;
};

std::string first_line(const std::string &text);
// a tensor copied to host doubles
void to_host(const torch::Tensor &t, std::vector<double> &out);
// species [n_atoms], edge_index [2, n_edges], edge_vec [n_edges, 3] on the model's device/dtype
Inputs make_inputs(const Model::Impl &m, int64_t n_atoms, const int64_t *species, int64_t n_edges,
                   const int64_t *edge_index, const double *edge_vec);
// the deployed module's output dict (DeployedPotential.forward / combine) into `out`
void read_result(const c10::Dict<c10::IValue, c10::IValue> &result, int64_t node_rows,
                 bool want_node_energy, bool want_members, Result &out);

}  // namespace seimlip

#endif
