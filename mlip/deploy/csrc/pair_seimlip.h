/* pair_style seimlip: a seimlip deployed model (one potential or a committee) in LAMMPS. */
#ifndef SEIMLIP_PAIR_SEIMLIP_H
#define SEIMLIP_PAIR_SEIMLIP_H

#include "atom.h"
#include "pair.h"

#include <cstdio>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seimlip {
class Model;
class Exchange;
struct Result;
}  // namespace seimlip

namespace LAMMPS_NS {

class PairSeimlip : public Pair {
 public:
  explicit PairSeimlip(class LAMMPS *);
  ~PairSeimlip() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  void *extract(const char *, int &) override;
  void *extract_peratom(const char *, int &) override;
  double memory_usage() override;

  // read by compute seimlip/atom (valid after a force evaluation on step last_step)
  int n_members() const { return nmembers; }
  int n_heads() const { return nheads; }
  bool has_energy_spread() const { return nmembers > 1 || nheads > 1; }
  const double *force_dev() const { return fdev; }
  const double *energy_dev() const { return edev; }
  double max_force_dev = 0.0;
  double energy_std = 0.0;       // committee: std of the members' total energies (eV)
  double head_energy_std = 0.0;  // shallow ensemble: std of the heads' total energies (eV)
  bigint last_step = -1;

  // graph halo: copy the owned nodes' feature rows to their ghost copies (forward
  // communication) and sum ghost rows' gradients onto their owners (reverse communication);
  // rows in node order (see seimlip::Exchange)
  void halo_forward(int width, const double *owned, double *ghost);
  void halo_reverse(int width, const double *ghost, double *owned);

 protected:
  std::unique_ptr<seimlip::Model> model;
  std::unique_ptr<seimlip::Result> result;
  std::string model_path, device_name, graph_mode = "auto";
  bool use_images = false;            // one rank: edges to periodic images point at owned atoms
  bool use_halo = false;              // owned atoms as centres, features exchanged after each layer
  std::vector<int> owner_of_tag;
  std::vector<std::string> model_species;
  std::vector<int> type2species;    // LAMMPS type -> index into model_species
  double cutoff = 0.0, cutoffsq = 0.0;
  int ninteractions = 1, nmembers = 1, nheads = 1;
  bool float64 = true;
  int nown = 0;                     // owned atoms the model sees (atom types not mapped to NULL)

  // per-atom energy spread (committee members or readout heads) of owned atoms
  int nmax_edev = 0;
  double *edev = nullptr;

  // DeePMD-style model deviation file (out_freq N out_file FILE)
  int out_freq = 0;
  std::string out_file;
  FILE *out_fp = nullptr;
  bigint last_out_step = -1;

  // per-step buffers
  std::vector<int64_t> species_buf, edge_i, edge_j, edge_index;
  std::vector<double> edge_vec;
  std::vector<int> hops, node_of, nodes;
  std::vector<int> frontier, next_frontier;

  // halo exchange: a feature row of comm_width doubles per owned + ghost atom
  std::unique_ptr<seimlip::Exchange> exchange;
  std::vector<double> halo_buf;
  int comm_width = 0;
  bool comm_halo = false;             // reverse communication of halo_buf (else member_f)
  bool graph_reported = false;

  // committee: per-member forces of owned + ghost atoms (reverse-communicated) and deviation
  int nmax_committee = 0;
  double **member_f = nullptr;
  double *fdev = nullptr;

  void allocate();
  int64_t build_graph();  // nodes, species_buf, edge_index, edge_vec; returns the edge count
  void report_graph(int nnodes);
  void load_model(const std::string &path, const std::string &device);
  void committee_statistics(int nlocal, int nall, int nnodes);
  void energy_spread(int nlocal, int nnodes);
  void write_model_devi(int nlocal);
  void open_model_devi();
  bool mapped(int i) const { return type2species[atom->type[i]] >= 0; }
};

// the seimlip::Exchange of the halo pass, through the pair style's communication
seimlip::Exchange *new_halo_exchange(PairSeimlip *pair);

}  // namespace LAMMPS_NS

#endif
