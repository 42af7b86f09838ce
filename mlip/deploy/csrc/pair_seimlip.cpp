/* pair_style seimlip <model.pt> [device auto|cpu|cuda] [graph auto|images|ghosts|halo]
                      [out_freq N] [out_file FILE]
   pair_coeff * * <element of type 1 or NULL> <element of type 2 or NULL> ...

   NULL leaves a type to other styles of pair_style hybrid/overlay: the model never sees those
   atoms (not as centres, not as neighbours). out_freq/out_file write DeePMD's model_devi.out
   columns (step max_devi_e min_devi_e avg_devi_e max_devi_f min_devi_f avg_devi_f) every N
   steps from a committee (force deviation of the members, per-atom energy spread) or from a
   shallow ensemble's readout heads (their per-atom energy spread in both triples; see README).

   Runs a seimlip deployed model (TorchScript, see mlip/deploy/exporter.py) on the full neighbour
   list of owned and ghost atoms. A model with n_interactions message-passing layers of cutoff
   rc needs ghost atoms out to n_interactions*rc: the ghost cutoff is raised to that (plus the
   skin) automatically. Energies are summed over owned atoms only; forces on ghost atoms are
   returned to their owners by LAMMPS' reverse communication (newton pair on).
   On one MPI rank (graph auto/images) ghosts are only periodic images of owned atoms: edges
   then point at the owners and the model sees the owned atoms only, as in the ASE calculator.
   graph halo (auto on several ranks, for models exported with the per-layer methods): only
   owned atoms are edge centres, ghosts reach one cutoff (+ skin), and the model runs layer by
   layer with the ghosts' features forward-communicated after each layer and their gradients
   reverse-communicated in the backward pass (seimlip_halo.cpp, pair_seimlip_comm.cpp).
   The graph of each mode is built in pair_seimlip_graph.cpp, the committee/head statistics and
   model_devi.out in pair_seimlip_uncertainty.cpp. */

#include "pair_seimlip.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "json.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "platform.h"
#include "update.h"
#include "utils.h"

#include "seimlip_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#ifndef SEIMLIP_FORMAT_VERSION
#error "SEIMLIP_FORMAT_VERSION must be defined by the build"
#endif

using namespace LAMMPS_NS;

static const char *const EXPORT_HINT = "re-export the model with `seimlip deploy`";

PairSeimlip::PairSeimlip(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  ghostneigh = 1;
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
  result.reset(new seimlip::Result);
  exchange.reset(new_halo_exchange(this));
}

PairSeimlip::~PairSeimlip()
{
  if (copymode) return;
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
  memory->destroy(member_f);
  memory->destroy(fdev);
  memory->destroy(edev);
  memory->destroy(pvector);
  if (out_fp) fclose(out_fp);
}

void PairSeimlip::allocate()
{
  allocated = 1;
  int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  memory->create(cutghost, n + 1, n + 1, "pair:cutghost");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
  type2species.assign(n + 1, -1);
}

/* ---------------------------------------------------------------------- */

static int local_rank_hint(int me)
{
  for (const char *name : {"MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                           "PMI_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK"}) {
    const char *value = std::getenv(name);
    if (value && *value) return std::atoi(value);
  }
  return me;
}

void PairSeimlip::load_model(const std::string &path, const std::string &device)
{
  if (!platform::file_is_readable(path))
    error->all(FLERR, "pair_style seimlip: model file '{}' does not exist or cannot be read", path);

  try {
    model.reset(new seimlip::Model(path));
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style seimlip: {}", e.what());
  }

  const std::string &text = model->metadata();
  if (text.empty())
    error->all(FLERR, "pair_style seimlip: '{}' is not a seimlip deployed model (no seimlip.json "
               "metadata inside); {}", path, EXPORT_HINT);
  json meta;
  try {
    meta = json::parse(text);
    if (meta.value("format", std::string()) != "seimlip-deployed")
      error->all(FLERR, "pair_style seimlip: '{}' is not a seimlip deployed model; {}", path,
                 EXPORT_HINT);
    int version = meta.at("format_version").get<int>();
    if (version < 1 || version > SEIMLIP_FORMAT_VERSION)  // 1 lacks only the halo methods
      error->all(FLERR, "pair_style seimlip: '{}' has deployed-model format version {} but this "
                 "plugin reads versions 1-{}; {} (or rebuild the plugin with the seimlip version "
                 "that wrote it)", path, version, SEIMLIP_FORMAT_VERSION, EXPORT_HINT);
    if (meta.value("units", std::string("metal")) != "metal")
      error->all(FLERR, "pair_style seimlip: model '{}' uses units '{}', only 'metal' is supported",
                 path, meta.value("units", std::string()));
    model_species = meta.at("species").get<std::vector<std::string>>();
    cutoff = meta.at("cutoff").get<double>();
    ninteractions = meta.at("n_interactions").get<int>();
    nmembers = meta.at("n_members").get<int>();
    nheads = model->n_heads();
    float64 = meta.at("dtype").get<std::string>() == "float64";
  } catch (json::exception &e) {
    error->all(FLERR, "pair_style seimlip: metadata of '{}' is unreadable ({}); {}", path,
               e.what(), EXPORT_HINT);
  }
  if (cutoff <= 0.0 || ninteractions < 1 || nmembers < 1 || model_species.empty())
    error->all(FLERR, "pair_style seimlip: metadata of '{}' is inconsistent; {}", path, EXPORT_HINT);

  int cuda_index = -1;
  if (device == "cuda" || device == "auto") {
    if (seimlip::Model::cuda_device_count() > 0) cuda_index = local_rank_hint(comm->me);
    else if (device == "cuda")
      error->all(FLERR, "pair_style seimlip: device cuda requested but torch sees no CUDA device");
  }
  try {
    device_name = model->configure(cuda_index, float64);
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style seimlip: {}", e.what());
  }

  // one torch thread per MPI rank unless the user said otherwise
  if (comm->nprocs > 1 && !std::getenv("OMP_NUM_THREADS")) seimlip::Model::set_num_threads(1);

  model_path = path;
  if (comm->me == 0)
    utils::logmesg(lmp, "seimlip: model {} ({} member{}, species {}, cutoff {} A, {} "
                   "interaction{}, {}) on {}\n", path, nmembers, nmembers > 1 ? "s" : "",
                   utils::join_words(model_species, " "), cutoff, ninteractions,
                   ninteractions > 1 ? "s" : "", float64 ? "float64" : "float32", device_name);
}

void PairSeimlip::settings(int narg, char **arg)
{
  if (narg < 1)
    error->all(FLERR, "Illegal pair_style seimlip command: expected pair_style seimlip "
               "<model file> [device auto|cpu|cuda] [graph auto|images|ghosts|halo] [out_freq N] "
               "[out_file FILE]");
  std::string device = "auto";
  graph_mode = "auto";
  out_freq = 0;
  out_file.clear();
  int iarg = 1;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "out_freq") == 0 && iarg + 1 < narg) {
      out_freq = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (out_freq < 1) error->all(FLERR, "pair_style seimlip: out_freq must be at least 1");
      iarg += 2;
      continue;
    }
    if (strcmp(arg[iarg], "out_file") == 0 && iarg + 1 < narg) {
      out_file = arg[iarg + 1];
      iarg += 2;
      continue;
    }
    if (strcmp(arg[iarg], "graph") == 0 && iarg + 1 < narg) {
      graph_mode = arg[iarg + 1];
      if (graph_mode != "auto" && graph_mode != "images" && graph_mode != "ghosts" &&
          graph_mode != "halo")
        error->all(FLERR, "pair_style seimlip: graph must be auto, images, ghosts or halo, not "
                   "'{}'", graph_mode);
      iarg += 2;
    } else if (strcmp(arg[iarg], "device") == 0 && iarg + 1 < narg) {
      device = arg[iarg + 1];
      if (device != "auto" && device != "cpu" && device != "cuda")
        error->all(FLERR, "pair_style seimlip: device must be auto, cpu or cuda, not '{}'", device);
      iarg += 2;
    } else {
      error->all(FLERR, "pair_style seimlip: unknown keyword '{}'", arg[iarg]);
    }
  }
  load_model(arg[0], device);
  if (out_freq > 0 || !out_file.empty()) {
    if (!has_energy_spread())
      error->all(FLERR, "pair_style seimlip: out_freq/out_file need a model with uncertainty (a "
                 "committee from `seimlip deploy a.pt b.pt ...`, or readout_heads > 1)");
    if (out_freq == 0) out_freq = 100;  // DeePMD's defaults
    if (out_file.empty()) out_file = "model_devi.out";
    open_model_devi();
  }

  // committee: per-member forces travel with the reverse communication; halo: rows of layer
  // features both ways. Set here, not in init_style: pair_style hybrid takes its sub-styles'
  // buffer sizes when it creates them.
  comm_forward = model->has_layers() ? model->halo_width() : 0;
  comm_reverse = std::max(nmembers > 1 ? 3 * nmembers : 0, comm_forward);
  memory->destroy(pvector);
  nextra = nmembers > 1 ? 2 : 0;
  if (nextra) memory->create(pvector, nextra, "pair:pvector");
}

void PairSeimlip::coeff(int narg, char **arg)
{
  if (!model) error->all(FLERR, "pair_coeff before pair_style seimlip");
  if (!allocated) allocate();
  int ntypes = atom->ntypes;
  if (narg != 2 + ntypes || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for seimlip must be: pair_coeff * * followed by one element "
               "per atom type, or NULL for a type left to pair_style hybrid ({} types, got {} "
               "elements)", ntypes, std::max(0, narg - 2));
  for (int t = 1; t <= ntypes; t++) {
    std::string element = arg[1 + t];
    if (element == "NULL") {  // left to another style of pair_style hybrid/overlay
      type2species[t] = -1;
      continue;
    }
    auto it = std::find(model_species.begin(), model_species.end(), element);
    if (it == model_species.end())
      error->all(FLERR, "pair_coeff: element '{}' (atom type {}) is not in the model's species "
                 "list ({})", element, t, utils::join_words(model_species, " "));
    type2species[t] = static_cast<int>(it - model_species.begin());
  }
  int nmapped = 0;
  for (int i = 1; i <= ntypes; i++) {
    nmapped += type2species[i] >= 0;
    for (int j = i; j <= ntypes; j++)
      setflag[i][j] = (type2species[i] >= 0 && type2species[j] >= 0) ? 1 : 0;
  }
  if (nmapped == 0) error->all(FLERR, "pair_coeff for seimlip maps every atom type to NULL");
}

void PairSeimlip::init_style()
{
  if (!model) error->all(FLERR, "pair_style seimlip has no model");
  if (force->newton_pair == 0)
    error->all(FLERR, "pair_style seimlip requires newton pair on (ghost-atom forces are "
               "returned to their owners by reverse communication)");
  // graph of owned atoms and periodic images (one rank) or through ghost atoms (any ranks)
  if (graph_mode == "images" && comm->nprocs > 1)
    error->all(FLERR, "pair_style seimlip: graph images needs a single MPI rank (use auto or ghosts)");
  if (graph_mode == "images" && !atom->tag_enable)
    error->all(FLERR, "pair_style seimlip: graph images needs atom IDs");
  if (graph_mode == "halo" && !model->has_layers())
    error->all(FLERR, "pair_style seimlip: graph halo needs a model file with per-layer methods "
               "(deployed-format version 2 of a seimlip Potential); {} (or use graph ghosts)",
               EXPORT_HINT);
  use_images = (graph_mode == "images") ||
      (graph_mode == "auto" && comm->nprocs == 1 && atom->tag_enable);
  use_halo = ninteractions > 1 && ((graph_mode == "halo") ||
      (graph_mode == "auto" && !use_images && model->has_layers()));
  graph_reported = false;
  if (use_images || use_halo || ninteractions == 1) {
    ghostneigh = 0;
    neighbor->add_request(this, NeighConst::REQ_FULL);
    if (comm->me == 0 && use_images)
      utils::logmesg(lmp, "seimlip: one rank, message passing over periodic images of owned atoms\n");
    if (comm->me == 0 && use_halo)
      utils::logmesg(lmp, "seimlip: graph halo, ghost cutoff {} A + skin; node features of ghost "
                     "atoms exchanged after each of {} layers ({} values per atom)\n", cutoff,
                     ninteractions - 1, comm_forward);
    return;
  }
  ghostneigh = 1;
  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);

  // message passing through ghosts: owned atoms feel atoms up to n_interactions * cutoff away
  double need = ninteractions * cutoff + neighbor->skin;
  if (comm->cutghostuser < need) {
    comm->cutghostuser = need;
    if (comm->me == 0)
      utils::logmesg(lmp, "seimlip: ghost cutoff set to {} A ({} interactions x {} A + skin)\n",
                     need, ninteractions, cutoff);
  }
}

double PairSeimlip::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  cutghost[i][j] = cutghost[j][i] = cutoff;
  return cutoff;
}

/* ---------------------------------------------------------------------- */

void PairSeimlip::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (vflag_atom || cvflag_atom)
    error->all(FLERR, "pair_style seimlip does not compute per-atom virials (compute stress/atom, "
               "compute centroid/stress/atom)");

  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  double **f = atom->f;
  const int64_t nedges = build_graph();
  const int nnodes = static_cast<int>(nodes.size());

  const bool committee = nmembers > 1;
  seimlip::Result &r = *result;
  try {
    if (use_halo)
      model->compute_halo(nnodes, nown, species_buf.data(), nedges, edge_index.data(),
                          edge_vec.data(), eflag_atom != 0, committee, *exchange, r);
    else
      model->compute(nnodes, nown, species_buf.data(), nedges, edge_index.data(), edge_vec.data(),
                     eflag_atom != 0, committee, r);
  } catch (std::exception &e) {
    error->one(FLERR, "pair_style seimlip: {}", e.what());
  }
  if (static_cast<int>(r.forces.size()) != 3 * nnodes)
    error->one(FLERR, "pair_style seimlip: model returned forces for {} atoms, expected {}",
               r.forces.size() / 3, nnodes);

  for (int k = 0; k < nnodes; k++) {
    const int i = nodes[k];
    f[i][0] += r.forces[3 * k];
    f[i][1] += r.forces[3 * k + 1];
    f[i][2] += r.forces[3 * k + 2];
  }
  if (eflag_global) eng_vdwl += r.energy;
  if (eflag_atom)
    for (int k = 0; k < nown; k++) eatom[nodes[k]] += r.node_energy[k];
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += r.virial[k];

  if (!graph_reported) report_graph(nnodes);
  if (committee) committee_statistics(nlocal, nall, nnodes);
  if (has_energy_spread()) energy_spread(nlocal, nnodes);
  last_step = update->ntimestep;
  if (out_freq > 0 && update->ntimestep % out_freq == 0 && update->ntimestep != last_out_step) {
    write_model_devi(nlocal);
    last_out_step = update->ntimestep;
  }
}

void *PairSeimlip::extract(const char *name, int &dim)
{
  dim = 0;
  if (strcmp(name, "cutoff") == 0) return (void *) &cutoff;
  if (nmembers > 1 && strcmp(name, "max_force_dev") == 0) return (void *) &max_force_dev;
  if (nmembers > 1 && strcmp(name, "energy_std") == 0) return (void *) &energy_std;
  if (nheads > 1 && strcmp(name, "head_energy_std") == 0) return (void *) &head_energy_std;
  return nullptr;
}

void *PairSeimlip::extract_peratom(const char *name, int &ncol)
{
  ncol = 0;
  if (nmembers > 1 && strcmp(name, "force_dev") == 0) return (void *) fdev;
  if (has_energy_spread() && strcmp(name, "energy_dev") == 0) return (void *) edev;
  return nullptr;
}

double PairSeimlip::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += (double) nmax_committee * (3 * nmembers + 1) * sizeof(double);
  bytes += (double) nmax_edev * sizeof(double);
  bytes += (double) halo_buf.capacity() * sizeof(double);
  bytes += (double) edge_vec.capacity() * sizeof(double);
  bytes += (double) (edge_i.capacity() + edge_j.capacity() + edge_index.capacity()) * sizeof(int64_t);
  return bytes;
}
