/* compute ID group seimlip/atom [force|energy]

   force (default for a committee): per-atom vector = the committee's force deviation
   sqrt(mean_k |F_k - <F>|^2) (eV/A) of each atom (0 outside the group); global vector [1] = its
   maximum over the group, [2] = std of the committee's total energies (eV).
   energy (default for a single model with readout heads): per-atom vector = the per-atom energy
   spread (eV): std over the readout heads (shallow ensemble, trained as the atom's force-error
   std) or over a committee's members; [1] = its maximum, [2] = std of the heads' (or members')
   total energies. Global scalar: [1]. The values are those of the latest force evaluation, so
   they are current in dumps, thermo output and fix halt on every step. */

#include "compute_seimlip_atom.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "update.h"

#include "pair_seimlip.h"

#include <algorithm>
#include <string>

using namespace LAMMPS_NS;

ComputeSeimlipAtom::ComputeSeimlipAtom(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg)
{
  if (narg < 3 || narg > 4)
    error->all(FLERR, "Illegal compute seimlip/atom command: compute ID group seimlip/atom [force|energy]");
  mode = narg == 4 ? arg[3] : "auto";
  if (mode != "auto" && mode != "force" && mode != "energy")
    error->all(FLERR, "compute seimlip/atom: the keyword must be force or energy, not '{}'", mode);
  peratom_flag = 1;
  size_peratom_cols = 0;
  scalar_flag = 1;
  vector_flag = 1;
  size_vector = 2;
  extscalar = 0;
  extvector = 0;
}

ComputeSeimlipAtom::~ComputeSeimlipAtom()
{
  memory->destroy(dev);
}

void ComputeSeimlipAtom::init()
{
  pair = dynamic_cast<PairSeimlip *>(force->pair_match("seimlip", 1));
  if (!pair) error->all(FLERR, "compute seimlip/atom requires pair_style seimlip");
  if (!pair->has_energy_spread())
    error->all(FLERR, "compute seimlip/atom needs a committee model (export several models into "
               "one file with `seimlip deploy`) or a model with readout_heads > 1; this model has "
               "one member and one head");
  if (mode == "force" && pair->n_members() < 2)
    error->all(FLERR, "compute seimlip/atom force needs a committee model (this model has one "
               "member with {} readout heads: use compute ID group seimlip/atom energy)",
               pair->n_heads());
  energy_mode = mode == "energy" || (mode == "auto" && pair->n_members() < 2);
}

const double *ComputeSeimlipAtom::source() const
{
  return energy_mode ? pair->energy_dev() : pair->force_dev();
}

void ComputeSeimlipAtom::check_current()
{
  if (pair->last_step != update->ntimestep)
    error->all(FLERR, "compute seimlip/atom: the force deviation is only available on steps when "
               "pair_style seimlip computed forces");
}

double ComputeSeimlipAtom::compute_scalar()
{
  invoked_scalar = update->ntimestep;
  compute_vector();
  scalar = values[0];
  return scalar;
}

void ComputeSeimlipAtom::compute_vector()
{
  invoked_vector = update->ntimestep;
  check_current();
  const double *dev_src = source();
  const int *mask = atom->mask;
  double local_max = 0.0;
  for (int i = 0; i < atom->nlocal; i++)
    if (mask[i] & groupbit) local_max = std::max(local_max, dev_src[i]);
  MPI_Allreduce(&local_max, &values[0], 1, MPI_DOUBLE, MPI_MAX, world);
  values[1] = (energy_mode && pair->n_members() < 2) ? pair->head_energy_std : pair->energy_std;
  vector = values;
}

void ComputeSeimlipAtom::compute_peratom()
{
  invoked_peratom = update->ntimestep;
  check_current();
  if (atom->nmax > nmax) {
    memory->destroy(dev);
    nmax = atom->nmax;
    memory->create(dev, nmax, "seimlip/atom:dev");
    vector_atom = dev;
  }
  const double *dev_src = source();
  const int *mask = atom->mask;
  for (int i = 0; i < atom->nlocal; i++) dev[i] = (mask[i] & groupbit) ? dev_src[i] : 0.0;
}

double ComputeSeimlipAtom::memory_usage()
{
  return (double) nmax * sizeof(double);
}
