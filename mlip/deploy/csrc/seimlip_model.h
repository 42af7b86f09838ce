/* The deployed seimlip model behind a plain C++ interface.

   This header includes neither torch nor LAMMPS headers: LAMMPS bundles fmt 10 and torch
   fmt 12 under the same include guard, so the two must live in separate translation units.
   seimlip_model.cpp is the only file that sees torch. */
#ifndef SEIMLIP_MODEL_H
#define SEIMLIP_MODEL_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seimlip {

// Exchanges of per-atom feature rows between MPI ranks during the halo pass; the pair style
// implements it with LAMMPS' forward and reverse communication. Rows are in node order: the
// first n_local nodes are owned atoms, the rest ghost atoms (copies of atoms owned elsewhere or
// periodic images).
class Exchange {
 public:
  virtual ~Exchange() = default;
  // owned [n_local][width] -> ghost [n_ghost][width]: each ghost row gets its owner's row
  virtual void forward(int width, const double *owned, double *ghost) = 0;
  // ghost [n_ghost][width] -> owned [n_local][width]: each owned row gets the sum of the rows of
  // its ghost copies (on every rank)
  virtual void reverse(int width, const double *ghost, double *owned) = 0;
};

struct Result {
  double energy = 0.0;               // sum of node energies of the first n_local atoms
  double virial[6] = {0, 0, 0, 0, 0, 0};  // LAMMPS order xx yy zz xy xz yz, = -stress*volume
  int64_t node_rows = 0;             // rows of the per-atom energy arrays: n_atoms, or n_local (halo)
  std::vector<double> node_energy;   // [node_rows] (filled only when asked for)
  std::vector<double> forces;        // [n_atoms*3], ghosts included
  std::vector<double> member_energy; // [n_members] (committee only)
  std::vector<double> member_forces; // [n_members*n_atoms*3] (committee only)
  std::vector<double> member_node_energy;  // [n_members*node_rows] (committee; empty in old files)
  std::vector<double> atom_energy_std;     // [node_rows] std over readout heads (shallow ensemble)
  std::vector<double> head_energies;       // [n_heads] energy of the first n_local atoms per head
};

class Model {
 public:
  // Loads a TorchScript file; throws std::runtime_error with a one-line reason.
  explicit Model(const std::string &path);
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  // The JSON metadata stored in the file ("" when the file has none).
  const std::string &metadata() const;

  // Readout heads of each member (the module's n_heads; 1 when it has none).
  int n_heads() const;

  // Choose the device (cuda:<index> when CUDA is available and index >= 0, else CPU) and the
  // floating point type the model was exported in. Returns a description of the device.
  std::string configure(int cuda_index, bool float64);

  // Set torch's intra-op thread count (<= 0 leaves it alone).
  static void set_num_threads(int n);
  static int cuda_device_count();

  // edge_index is [2][n_edges] row-major (row 0 = centre i, row 1 = neighbour j);
  // edge_vec is [n_edges][3] with edge_vec = x[j] - x[i].
  void compute(int64_t n_atoms, int64_t n_local, const int64_t *species, int64_t n_edges,
               const int64_t *edge_index, const double *edge_vec, bool want_node_energy,
               bool want_members, Result &out);

  // Whether the file has the per-layer methods of the halo exchange (mlip/deploy/halo.py), and
  // the widest feature row (floats per atom) exchanged between layers.
  bool has_layers() const;
  int halo_width() const;

  // The same outputs layer by layer: only the first n_local atoms are edge centres; after each
  // layer the ghost atoms' features come from `exchange.forward`, and in the backward pass the
  // ghost rows of each layer's input gradient go back to their owners by `exchange.reverse`.
  // Energies and node_energy rows are those of the n_local atoms; forces cover all n_atoms.
  void compute_halo(int64_t n_atoms, int64_t n_local, const int64_t *species, int64_t n_edges,
                    const int64_t *edge_index, const double *edge_vec, bool want_node_energy,
                    bool want_members, Exchange &exchange, Result &out);

  struct Impl;  // torch side, defined in seimlip_model_impl.h

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace seimlip

#endif
