/* Uncertainty of pair_style seimlip: the committee's per-atom force deviation (after ghost
   forces reached their owners), the per-atom energy spread of members or readout heads, and
   DeePMD's model_devi.out. */

#include "pair_seimlip.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "memory.h"
#include "update.h"
#include "utils.h"

#include "seimlip_model.h"

#include <algorithm>
#include <cmath>
#include <string>

using namespace LAMMPS_NS;

/* std over k of values[k] (population std, as numpy's default and the Python side) */

static double population_std(const std::vector<double> &values)
{
  const double count = static_cast<double>(values.size());
  double mean = 0.0, var = 0.0;
  for (double v : values) mean += v / count;
  for (double v : values) var += (v - mean) * (v - mean) / count;
  return std::sqrt(var);
}

/* the same of per-rank partial sums (each member's or head's energy of this rank's atoms) */

static double summed_std(const std::vector<double> &local, MPI_Comm world)
{
  std::vector<double> total(local.size(), 0.0);
  MPI_Allreduce(local.data(), total.data(), static_cast<int>(local.size()), MPI_DOUBLE, MPI_SUM, world);
  return population_std(total);
}

/* per-atom energy spread of owned atoms: population std over the committee's members of each
   atom's energy (DeePMD's devi_e per atom), else the readout heads' per-atom std; and the heads'
   total-energy std, summed over ranks first */

void PairSeimlip::energy_spread(int nlocal, int nnodes)
{
  const seimlip::Result &r = *result;
  if (atom->nmax > nmax_edev) {
    nmax_edev = atom->nmax;
    memory->destroy(edev);
    memory->create(edev, nmax_edev, "pair:edev");
  }
  for (int i = 0; i < nlocal; i++) edev[i] = 0.0;
  const int K = nmembers;
  const int64_t rows = r.node_rows;  // nnodes, or nown (halo)
  if (K > 1 && static_cast<int64_t>(r.member_node_energy.size()) == K * rows) {
    std::vector<double> members(K);
    for (int n = 0; n < nown; n++) {
      for (int k = 0; k < K; k++) members[k] = r.member_node_energy[k * rows + n];
      edev[nodes[n]] = population_std(members);
    }
  } else if (static_cast<int64_t>(r.atom_energy_std.size()) == rows) {
    for (int n = 0; n < nown; n++) edev[nodes[n]] = r.atom_energy_std[n];
  }
  if (r.head_energies.size() > 1) head_energy_std = summed_std(r.head_energies, world);
}

/* one line of model_devi.out: max/min/avg over the mapped atoms of the per-atom energy spread
   and of the per-atom force deviation (committee; readout heads: their per-atom energy spread) */

void PairSeimlip::open_model_devi()
{
  if (out_fp) fclose(out_fp);
  out_fp = nullptr;
  last_out_step = -1;
  if (comm->me != 0) return;
  out_fp = fopen(out_file.c_str(), "w");
  if (!out_fp)
    error->one(FLERR, "pair_style seimlip: cannot open out_file '{}': {}", out_file,
               utils::getsyserror());
  const bool committee = nmembers > 1;
  const std::string source = committee ? "a committee of " + std::to_string(nmembers) + " models"
                                       : std::to_string(nheads) + " readout heads";
  const std::string devi_f = committee
      ? "per-atom force deviation sqrt(mean_k |F_k - <F>|^2)"
      : "the heads' per-atom energy spread, trained as the force-error std (no per-head forces)";
  utils::print(out_fp, "# seimlip model deviation of {} every {} steps; devi_e: per-atom energy "
               "spread (eV), devi_f: {} (eV/A)\n", source, out_freq, devi_f);
  utils::print(out_fp, "#{:>11} {:>18} {:>18} {:>18} {:>18} {:>18} {:>18}\n", "step", "max_devi_e",
               "min_devi_e", "avg_devi_e", "max_devi_f", "min_devi_f", "avg_devi_f");
  fflush(out_fp);
}

void PairSeimlip::write_model_devi(int nlocal)
{
  const double *fd = nmembers > 1 ? fdev : edev;
  double lmax[2] = {0.0, 0.0}, lmin[2] = {1e300, 1e300}, lsum[3] = {0.0, 0.0, 0.0};
  for (int i = 0; i < nlocal; i++) {
    if (!mapped(i)) continue;
    const double v[2] = {edev[i], fd[i]};
    for (int c = 0; c < 2; c++) {
      lmax[c] = std::max(lmax[c], v[c]);
      lmin[c] = std::min(lmin[c], v[c]);
      lsum[c] += v[c];
    }
    lsum[2] += 1.0;
  }
  double gmax[2], gmin[2], gsum[3];
  MPI_Allreduce(lmax, gmax, 2, MPI_DOUBLE, MPI_MAX, world);
  MPI_Allreduce(lmin, gmin, 2, MPI_DOUBLE, MPI_MIN, world);
  MPI_Allreduce(lsum, gsum, 3, MPI_DOUBLE, MPI_SUM, world);
  if (comm->me != 0 || !out_fp) return;
  const double n = gsum[2];
  if (n == 0.0) gmin[0] = gmin[1] = 0.0;
  utils::print(out_fp, "{:>12} {:>18.10e} {:>18.10e} {:>18.10e} {:>18.10e} {:>18.10e} {:>18.10e}\n",
               update->ntimestep, gmax[0], gmin[0], n > 0 ? gsum[0] / n : 0.0, gmax[1], gmin[1],
               n > 0 ? gsum[1] / n : 0.0);
  fflush(out_fp);
}

/* per-atom force deviation of the committee (DP-GEN's max_devi_f per atom):
   sqrt(mean_k |F_k - <F>|^2), on total forces after ghost contributions reached their owners */

void PairSeimlip::committee_statistics(int nlocal, int nall, int nnodes)
{
  const int K = nmembers;
  const seimlip::Result &r = *result;
  if (atom->nmax > nmax_committee) {
    nmax_committee = atom->nmax;
    memory->destroy(member_f);
    memory->destroy(fdev);
    memory->create(member_f, nmax_committee, 3 * K, "pair:member_f");
    memory->create(fdev, nmax_committee, "pair:fdev");
  }
  for (int i = 0; i < nall; i++)
    for (int c = 0; c < 3 * K; c++) member_f[i][c] = 0.0;
  for (int n = 0; n < nnodes; n++) {
    const int i = nodes[n];
    for (int k = 0; k < K; k++)
      for (int d = 0; d < 3; d++)
        member_f[i][3 * k + d] = r.member_forces[(static_cast<size_t>(k) * nnodes + n) * 3 + d];
  }
  comm_halo = false;
  comm_width = 3 * K;
  comm->reverse_comm(this);

  double local_max = 0.0;
  for (int i = 0; i < nlocal; i++) {
    double mean[3] = {0.0, 0.0, 0.0};
    for (int k = 0; k < K; k++)
      for (int d = 0; d < 3; d++) mean[d] += member_f[i][3 * k + d] / K;
    double var = 0.0;
    for (int k = 0; k < K; k++)
      for (int d = 0; d < 3; d++) {
        double delta = member_f[i][3 * k + d] - mean[d];
        var += delta * delta;
      }
    fdev[i] = std::sqrt(var / K);
    local_max = std::max(local_max, fdev[i]);
  }
  MPI_Allreduce(&local_max, &max_force_dev, 1, MPI_DOUBLE, MPI_MAX, world);

  energy_std = summed_std(r.member_energy, world);

  // compute pair sums pvector over ranks: only rank 0 holds the (already global) values
  pvector[0] = comm->me == 0 ? max_force_dev : 0.0;
  pvector[1] = comm->me == 0 ? energy_std : 0.0;
}

