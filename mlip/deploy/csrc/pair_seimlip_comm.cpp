/* Communication of pair_style seimlip: the committee's per-member ghost forces (reverse), and
   the feature rows of the halo exchange (forward after each layer, reverse in the backward
   pass; see seimlip_halo.cpp). Node features are invariant under translations, so the copy of
   a periodic image is a plain copy (no pbc shift). */

#include "pair_seimlip.h"

#include "atom.h"
#include "comm.h"

#include "seimlip_model.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

namespace {

class HaloExchange : public seimlip::Exchange {
 public:
  explicit HaloExchange(PairSeimlip *pair) : pair(pair) {}
  void forward(int width, const double *owned, double *ghost) override
  {
    pair->halo_forward(width, owned, ghost);
  }
  void reverse(int width, const double *ghost, double *owned) override
  {
    pair->halo_reverse(width, ghost, owned);
  }

 private:
  PairSeimlip *pair;
};

}  // namespace

seimlip::Exchange *LAMMPS_NS::new_halo_exchange(PairSeimlip *pair)
{
  return new HaloExchange(pair);
}

/* owned node rows -> every atom's row of halo_buf -> ghost node rows */

void PairSeimlip::halo_forward(int width, const double *owned, double *ghost)
{
  const size_t w = static_cast<size_t>(width);
  const int nnodes = static_cast<int>(nodes.size());
  comm_width = width;
  halo_buf.assign(static_cast<size_t>(atom->nlocal + atom->nghost) * w, 0.0);
  for (int n = 0; n < nown; n++) std::memcpy(&halo_buf[nodes[n] * w], owned + n * w, w * sizeof(double));
  comm->forward_comm(this);
  for (int n = nown; n < nnodes; n++)
    std::memcpy(ghost + (n - nown) * w, &halo_buf[nodes[n] * w], w * sizeof(double));
}

/* ghost node rows -> summed onto their owners' rows (on whichever rank) -> owned node rows */

void PairSeimlip::halo_reverse(int width, const double *ghost, double *owned)
{
  const size_t w = static_cast<size_t>(width);
  const int nnodes = static_cast<int>(nodes.size());
  comm_width = width;
  halo_buf.assign(static_cast<size_t>(atom->nlocal + atom->nghost) * w, 0.0);
  for (int n = nown; n < nnodes; n++)
    std::memcpy(&halo_buf[nodes[n] * w], ghost + (n - nown) * w, w * sizeof(double));
  comm_halo = true;
  comm->reverse_comm(this);
  comm_halo = false;
  for (int n = 0; n < nown; n++) std::memcpy(owned + n * w, &halo_buf[nodes[n] * w], w * sizeof(double));
}

int PairSeimlip::pack_forward_comm(int n, int *list, double *buf, int /*pbc_flag*/, int * /*pbc*/)
{
  const size_t w = static_cast<size_t>(comm_width);
  for (int i = 0; i < n; i++) std::memcpy(buf + i * w, &halo_buf[list[i] * w], w * sizeof(double));
  return static_cast<int>(n * w);
}

void PairSeimlip::unpack_forward_comm(int n, int first, double *buf)
{
  const size_t w = static_cast<size_t>(comm_width);
  std::memcpy(&halo_buf[first * w], buf, n * w * sizeof(double));
}

int PairSeimlip::pack_reverse_comm(int n, int first, double *buf)
{
  int m = 0;
  const int width = comm_width;
  for (int i = first; i < first + n; i++) {
    const double *row = comm_halo ? &halo_buf[static_cast<size_t>(i) * width] : member_f[i];
    for (int c = 0; c < width; c++) buf[m++] = row[c];
  }
  return m;
}

void PairSeimlip::unpack_reverse_comm(int n, int *list, double *buf)
{
  int m = 0;
  const int width = comm_width;
  for (int i = 0; i < n; i++) {
    const int j = list[i];
    double *row = comm_halo ? &halo_buf[static_cast<size_t>(j) * width] : member_f[j];
    for (int c = 0; c < width; c++) row[c] += buf[m++];
  }
}

/* once per run: owned atoms and the ghost atoms the model sees, per rank (log and screen) */

void PairSeimlip::report_graph(int nnodes)
{
  graph_reported = true;
  const double local[3] = {static_cast<double>(nown), static_cast<double>(nnodes - nown),
                           static_cast<double>(atom->nghost)};
  double lo[3], hi[3], sum[3];
  MPI_Allreduce(local, lo, 3, MPI_DOUBLE, MPI_MIN, world);
  MPI_Allreduce(local, hi, 3, MPI_DOUBLE, MPI_MAX, world);
  MPI_Allreduce(local, sum, 3, MPI_DOUBLE, MPI_SUM, world);
  if (comm->me != 0) return;
  const double p = comm->nprocs;
  utils::logmesg(lmp, "seimlip: graph {} on {} rank{}: per rank {:.0f}-{:.0f} owned atoms, {:.0f}-{:.0f} "
                 "ghost atoms in the model's graph (mean {:.1f}), {:.0f}-{:.0f} LAMMPS ghost atoms "
                 "(mean {:.1f})\n", use_images ? "images" : (use_halo ? "halo" : "ghosts"),
                 comm->nprocs, comm->nprocs > 1 ? "s" : "", lo[0], hi[0], lo[1], hi[1], sum[1] / p,
                 lo[2], hi[2], sum[2] / p);
}
