/* The layered pass of the halo exchange (pair_style seimlip ... graph halo): the model's layers
   one at a time, with the ghost atoms' features exchanged between layers and their gradients
   sent back in reverse, driving the TorchScript methods of mlip/deploy/halo.py (whose Python
   twin, tests/test_halo.py, checks the same algorithm against the ASE calculator).

   Per committee member m, with N nodes of which the first n_local are owned (the only edge
   centres) and the rest ghosts:
     forward   (r, feats, senders, position) = halo_prepare(edge_vec leaf);  h = halo_embed
               for t: (h_out[t], e[t]) = halo_layer(t, h); t < L-1: h = [h_out[t] | ghost rows
               from exchange.forward] as a new leaf (the features stay on the device; only the
               exchanged rows go through host buffers)
     energy    halo_energy(e[t] as leaves, edge_vec leaf) -> dE/de[t], dE/d(edge_vec) (ZBL)
     backward  t = L-1..0: autograd.grad of (e[t], h_out[t]) with (dE/de[t], g_h) w.r.t. (feats,
               h_in[t]); g_h for layer t-1 = owned rows of dE/dh_in[t] + exchange.reverse of
               its ghost rows; dE/dfeats summed over layers -> dE/d(edge_vec)
     forces    halo_forces(edge_vec, dE/d(edge_vec)): the edge formula of ForceStressOutput
   and the members' dicts go through the module's combine (committee and head statistics). */
#include "seimlip_model_impl.h"

#include <stdexcept>

namespace seimlip {

using torch::Tensor;
using TensorList = std::vector<Tensor>;

bool Model::has_layers() const {
  auto &mod = impl_->module;
  return mod.find_method("halo_layer").has_value() && mod.hasattr("halo_width") &&
         mod.hasattr("member_layers");
}

int Model::halo_width() const {
  return has_layers() ? static_cast<int>(impl_->module.attr("halo_width").toInt()) : 0;
}

namespace {

// features [D, n, C] <-> host rows [n][D*C] (float64)
Tensor rows_to_host(const Tensor &h) {
  return h.detach().permute({1, 0, 2}).to(torch::kCPU, torch::kFloat64).contiguous();
}

Tensor rows_from_host(const Tensor &host, int64_t d, int64_t c, const Model::Impl &m) {
  return host.view({host.size(0), d, c}).to(m.device, m.dtype).permute({1, 0, 2});
}

Tensor or_zeros(const Tensor &g, const Tensor &like) { return g.defined() ? g : torch::zeros_like(like); }

// autograd.grad over the outputs that depend on anything (a rank without edges has constant
// outputs); undefined gradients for inputs nothing depends on
TensorList grad_of(const TensorList &outputs, const TensorList &inputs, const TensorList &grad_outputs) {
  TensorList outs, gouts;
  for (size_t k = 0; k < outputs.size(); k++)
    if (outputs[k].requires_grad()) {
      outs.push_back(outputs[k]);
      gouts.push_back(grad_outputs[k]);
    }
  if (outs.empty()) return TensorList(inputs.size());
  return torch::autograd::grad(outs, inputs, gouts, /*retain_graph=*/false, /*create_graph=*/false,
                               /*allow_unused=*/true);
}

struct Halo {
  const Model::Impl &m;
  Exchange &exchange;
  int64_t n_atoms, n_local, width;

  // ghost rows of the owners' new features, appended to them
  Tensor forward(const Tensor &owned) {
    const int64_t d = owned.size(0), c = owned.size(2), n_ghost = n_atoms - n_local;
    if (d * c > width) throw std::runtime_error("layer features wider than the halo buffer");
    Tensor own = rows_to_host(owned);
    Tensor ghost = torch::zeros({n_ghost, d * c}, torch::kFloat64);
    exchange.forward(static_cast<int>(d * c), own.data_ptr<double>(), ghost.data_ptr<double>());
    return torch::cat({owned.detach(), rows_from_host(ghost, d, c, m)}, 1);
  }

  // gradient w.r.t. the owned rows of the previous layer's output
  Tensor reverse(const Tensor &g_in) {
    const int64_t d = g_in.size(0), c = g_in.size(2), n_ghost = n_atoms - n_local;
    Tensor ghost = rows_to_host(g_in.narrow(1, n_local, n_ghost));
    Tensor own = torch::zeros({n_local, d * c}, torch::kFloat64);
    exchange.reverse(static_cast<int>(d * c), ghost.data_ptr<double>(), own.data_ptr<double>());
    return g_in.narrow(1, 0, n_local) + rows_from_host(own, d, c, m);
  }
};

// One member's layered pass: its output dict as ForceStressOutput would give it.
c10::Dict<std::string, Tensor> member_pass(Model::Impl &m, int64_t k, int64_t n_layers, const Inputs &in,
                                           Halo &halo) {
  auto &mod = m.module;
  Tensor vec = in.vec.detach().requires_grad_(true);
  auto prep = mod.run_method("halo_prepare", k, in.species, in.index, vec, halo.n_local).toTuple();
  const c10::IValue feats_iv = prep->elements()[1], senders = prep->elements()[2],
                    position = prep->elements()[3];
  const TensorList feats = feats_iv.toTensorVector();
  Tensor h = mod.run_method("halo_embed", k, in.species).toTensor();

  TensorList h_in, h_out, e;
  for (int64_t t = 0; t < n_layers; t++) {
    auto out = mod.run_method("halo_layer", k, t, h, in.species, feats_iv, senders, position).toTuple();
    h_in.push_back(h);
    h_out.push_back(out->elements()[0].toTensor());
    e.push_back(out->elements()[1].toTensor());
    if (t < n_layers - 1) h = halo.forward(h_out.back()).requires_grad_(true);
  }

  // energies of the owned atoms from the layers' energies (+ ZBL of the edges)
  c10::List<Tensor> e_leaf;
  TensorList energy_inputs;
  for (auto &et : e) {
    e_leaf.push_back(et.detach().requires_grad_(true));
    energy_inputs.push_back(e_leaf.get(e_leaf.size() - 1));
  }
  Tensor vec_zbl = in.vec.detach().requires_grad_(true);
  energy_inputs.push_back(vec_zbl);
  auto energy = c10::impl::toTypedDict<std::string, Tensor>(
      mod.run_method("halo_energy", k, in.species, e_leaf, in.index, vec_zbl).toGenericDict());
  Tensor total = energy.at("energy").sum();
  TensorList g_energy = grad_of({total}, energy_inputs, {torch::ones_like(total)});

  // layers in reverse, the ghost rows of each input gradient summed onto their owners
  TensorList g_feats(feats.size());
  Tensor g_h;
  for (int64_t t = n_layers - 1; t >= 0; t--) {
    TensorList outputs{e[t]}, grad_outputs{or_zeros(g_energy[t], e[t])};
    if (t < n_layers - 1) {
      outputs.push_back(h_out[t]);
      grad_outputs.push_back(g_h);
    }
    TensorList inputs(feats);
    if (t > 0) inputs.push_back(h_in[t]);
    TensorList grads = grad_of(outputs, inputs, grad_outputs);
    for (size_t f = 0; f < feats.size(); f++)
      if (grads[f].defined()) g_feats[f] = g_feats[f].defined() ? g_feats[f] + grads[f] : grads[f];
    if (t > 0) g_h = halo.reverse(or_zeros(grads.back(), h_in[t]));
    h_out[t] = Tensor();  // each layer's graph is freed by its grad call; drop the handles
  }
  for (size_t f = 0; f < feats.size(); f++) g_feats[f] = or_zeros(g_feats[f], feats[f]);
  Tensor g_vec = or_zeros(grad_of(feats, {vec}, g_feats)[0], vec);
  if (g_energy.back().defined()) g_vec = g_vec + g_energy.back();

  auto fv = mod.run_method("halo_forces", in.index, in.vec, g_vec, halo.n_atoms).toTuple();
  c10::Dict<std::string, Tensor> out;
  for (const auto &item : energy) out.insert(item.key(), item.value().detach());
  out.insert("forces", fv->elements()[0].toTensor());
  out.insert("virial", fv->elements()[1].toTensor());
  return out;
}

}  // namespace

void Model::compute_halo(int64_t n_atoms, int64_t n_local, const int64_t *species, int64_t n_edges,
                         const int64_t *edge_index, const double *edge_vec, bool want_node_energy,
                         bool want_members, Exchange &exchange, Result &out) {
  auto &m = *impl_;
  if (!has_layers()) throw std::runtime_error("this model file has no per-layer methods");
  try {
    Inputs in = make_inputs(m, n_atoms, species, n_edges, edge_index, edge_vec);
    Halo halo{m, exchange, n_atoms, n_local, halo_width()};
    auto layers = m.module.attr("member_layers").toIntVector();
    c10::List<c10::Dict<std::string, Tensor>> members;
    for (int64_t k = 0; k < static_cast<int64_t>(layers.size()); k++)
      members.push_back(member_pass(m, k, layers[k], in, halo));
    auto result = m.module.run_method("combine", members, n_local).toGenericDict();
    read_result(result, n_local, want_node_energy, want_members, out);
  } catch (const c10::Error &e) {
    throw std::runtime_error(std::string("model evaluation failed: ") + first_line(e.what_without_backtrace()));
  }
}

}  // namespace seimlip
